"""``fixloop eval``: run scenarios on the embedded runtime and grade each by a verification
command the agent never sees (docs/evaluating.md).

- :mod:`.scenario`: ``scenario.json``, checked, and found in folders;
- :mod:`.repos`: a fresh repository for each run (a folder, a git ref, a patched sdist or
  npm tarball);
- :mod:`.runner`: the runs, several at once on one runtime, followed and kept;
- :mod:`.grading`: the verify command on the delivered branch, confined;
- :mod:`.report`: the totals, the Wilson interval, the table and the Markdown report;
- :mod:`.command`: the command itself.
"""

from __future__ import annotations

from fixloop.cli.eval.command import default_parallel, evaluate
from fixloop.cli.eval.report import wilson_interval
from fixloop.cli.eval.scenario import Scenario, ScenarioFile, find_scenarios, load_scenario

__all__ = [
    "Scenario",
    "ScenarioFile",
    "default_parallel",
    "evaluate",
    "find_scenarios",
    "load_scenario",
    "wilson_interval",
]
