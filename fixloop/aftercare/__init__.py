"""After the merge: follow a fix to production, verify that it held, reopen when it did not.

- :mod:`.merge`: a pull request merged (GitHub's webhook; the local code host's target branch)
  moves the investigation to ``merged`` and starts the round's aftercare execution;
- :mod:`.machine`: the aftercare state machine's step (statemachines/aftercare.asl.json):
  look for the deployment (:mod:`.deployment`), wait, verify (:mod:`.verification`);
- :mod:`.recurrence`: the problem came back: the same investigation is reopened with the
  evidence; :mod:`.regression`: a new error in the files a deployed fix changed is flagged;
- :mod:`.instrumentation`: the tool that opens an instrumentation pull request and parks
  until the next occurrence brings the telemetry;
- :mod:`.stats`: outcomes counted (``fixloop stats``, ``GET /stats``); :mod:`.poller`:
  ``fixloop serve``'s look for local merges; :mod:`.rounds`: the guarded status changes, their
  events and announcements, the execution of each round.
"""

from fixloop.aftercare.deployment import Deployment, DeploymentCheck, find_deployment, watch_of
from fixloop.aftercare.instrumentation import (
    OPEN_INSTRUMENTATION_PULL_REQUEST,
    wake_with_telemetry,
)
from fixloop.aftercare.machine import step
from fixloop.aftercare.merge import (
    MERGEABLE,
    check_local_merges,
    detect_local_merge,
    record_merge,
)
from fixloop.aftercare.poller import MergePoller
from fixloop.aftercare.recurrence import on_occurrence, recur, wake_recurred
from fixloop.aftercare.regression import flag_regressions, suspected_fixes
from fixloop.aftercare.rounds import AftercareState, execution_name_for, start_watch
from fixloop.aftercare.stats import Figures, Stats, outcome_stats, service_of
from fixloop.aftercare.verification import Verdict, verify

__all__ = [
    "MERGEABLE",
    "OPEN_INSTRUMENTATION_PULL_REQUEST",
    "AftercareState",
    "Deployment",
    "DeploymentCheck",
    "Figures",
    "MergePoller",
    "Stats",
    "Verdict",
    "check_local_merges",
    "detect_local_merge",
    "execution_name_for",
    "find_deployment",
    "flag_regressions",
    "on_occurrence",
    "outcome_stats",
    "record_merge",
    "recur",
    "service_of",
    "start_watch",
    "step",
    "suspected_fixes",
    "verify",
    "wake_recurred",
    "wake_with_telemetry",
    "watch_of",
]
