"""The instrumentation plan: what a service needs so that fixloop can watch it.

:func:`plan_onboarding` reads a local git repository at ``HEAD`` (never its working tree) and
decides what the instrumentation pull request adds or changes:

- ``fixloop_instrumentation/`` (a Python package): a Powertools ``Logger`` writing one JSON
  object per line, and :func:`log_unhandled_errors`, a decorator that logs an exception with its
  stack trace (``logger.exception``) before re-raising it. The handlers are listed in the pull
  request body, not rewritten: wrapping them is two lines a person reviews;
- ``aws-lambda-powertools`` in the dependency file each handler is packaged with
  (``requirements.txt`` or ``pyproject.toml``), when it is not there yet;
- ``fixloop/cloudformation/error-alarms.yaml``: per function, two metric filters on
  ``/aws/lambda/<function>`` (structured ``{ $.level = "ERROR" }`` lines, and the ``[ERROR]``
  lines of the Lambda runtime's text log format, which carry the traceback of an unhandled
  exception), an alarm on their count, and a subscription filter sending the structured error
  lines to fixloop;
- ``fixloop/cdk/error_alarms.py``: the same as a CDK construct, for services deployed with CDK;
- ``fixloop/README.md`` (and a short section in the service's ``README.md``).

Which functions: ``--function NAME`` when given; else the literal ``FunctionName`` of the
functions in a SAM/CloudFormation ``template.yaml`` or the names a ``serverless.yml``
implies; else a name guessed from each handler's module (the pull request says so).

The work is split by job: :mod:`~fixloop.onboarding.detect` reads the repository,
:mod:`~fixloop.onboarding.dependencies` edits dependency files,
:mod:`~fixloop.onboarding.render` renders the files (from ``templates/``), and
:mod:`~fixloop.onboarding.models` holds what a plan is made of.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from fixloop.delivery.protocol import branch_for
from fixloop.errors import BadInputError
from fixloop.onboarding.dependencies import dependency_changes
from fixloop.onboarding.detect import (
    Tree,
    find_handlers,
    guessed_names,
    head_commit,
    serverless_functions,
    template_functions,
)
from fixloop.onboarding.models import (
    CDK_PATH,
    DOCS_PATH,
    FUNCTION_NAME,
    LOGGING_MODULE,
    PACKAGE_INIT,
    POWERTOOLS_REQUIREMENT,
    TEMPLATE_PATH,
    DetectedHandler,
    NothingToChange,
    OnboardingPlan,
    PlannedFile,
    WatchedFunction,
    sanitise,
)
from fixloop.onboarding.render import (
    README_MARKER,
    render_body,
    render_cdk,
    render_cloudformation,
    render_docs,
    render_logging_module,
    render_package_init,
    with_readme_section,
)

__all__ = [
    "BRANCH",
    "CDK_PATH",
    "DOCS_PATH",
    "INVESTIGATION_ID",
    "LOGGING_MODULE",
    "PACKAGE_INIT",
    "TEMPLATE_PATH",
    "DetectedHandler",
    "NothingToChange",
    "OnboardingPlan",
    "PlannedFile",
    "WatchedFunction",
    "head_commit",
    "plan_onboarding",
]

INVESTIGATION_ID = "onboarding"
BRANCH = branch_for(INVESTIGATION_ID)


def plan_onboarding(
    repo: Path, *, functions: Sequence[str] = (), repo_name: str = ""
) -> OnboardingPlan:
    """What the instrumentation pull request of ``repo`` (at ``HEAD``) adds and changes.

    ``functions``: the deployed names of the functions to watch (default: detected, or
    guessed from the handlers' modules). ``repo_name`` names the service (default: the
    repository directory's name). Raises BadInputError for a path that is not a git
    repository, an invalid function name, or a repository with no handler and no
    ``functions``; NothingToChange when every file is already as planned.
    """
    commit = head_commit(repo)
    name = repo_name or repo.resolve().name
    for fn in functions:
        if not FUNCTION_NAME.match(fn):
            raise BadInputError(
                f"--function {fn!r}: a Lambda function name has 1 to 64 letters, digits, "
                "hyphens and underscores"
            )
    tree = Tree(repo, commit)
    warnings: list[str] = []
    handlers = find_handlers(tree)
    watched: list[WatchedFunction]
    if functions:
        watched = [
            WatchedFunction(name=fn, log_group=f"/aws/lambda/{fn}", source="--function")
            for fn in dict.fromkeys(functions)
        ]
    else:
        detected = template_functions(tree, warnings)
        watched = detected[1] if detected else serverless_functions(tree, warnings)
        if not watched:
            watched = guessed_names(handlers, sanitise(name))
            if watched:
                warnings.append(
                    "the function names are guessed from the handler modules: if they are "
                    "deployed under other names, run `fixloop onboard --function NAME` (once "
                    "per function) to regenerate the template"
                )
    if not watched:
        raise BadInputError(
            f"--repo {repo}: no Python Lambda handler (def lambda_handler or def handler(event, "
            "context)) at HEAD; pass --function NAME for each function to watch"
        )

    files: list[PlannedFile] = []

    def plan(path: str, content: str, reason: str) -> None:
        current = tree.read(path)
        if current == content:
            return
        action: Literal["add", "change"] = "add" if path not in tree else "change"
        files.append(PlannedFile(path=path, content=content, action=action, reason=reason))

    plan(PACKAGE_INIT, render_package_init(), "exports the logger and the error decorator")
    plan(
        LOGGING_MODULE,
        render_logging_module(name),
        "structured JSON logs; logs unhandled exceptions with their stack trace",
    )
    powertools_in, dependency_edits = dependency_changes(tree, handlers, warnings)
    for path, content in dependency_edits.items():
        plan(path, content, f"adds {POWERTOOLS_REQUIREMENT}")
    plan(
        TEMPLATE_PATH,
        render_cloudformation(name, watched),
        "metric filters, alarms and the subscription to fixloop, per function",
    )
    plan(CDK_PATH, render_cdk(name, watched), "the same resources as a CDK construct")
    plan(DOCS_PATH, render_docs(name, watched), "how the pieces fit, how to deploy")
    readme = tree.read("README.md")
    if readme is not None and README_MARKER not in readme:
        plan("README.md", with_readme_section(readme), "a short section on error reporting")

    title = f"Instrument {name} for fixloop"
    if not files:
        raise NothingToChange(
            f"{name} at {commit[:12]} already has everything `fixloop onboard` adds: "
            "nothing to change"
        )
    plan_ = OnboardingPlan(
        repo_name=name,
        base_commit=commit,
        handlers=handlers,
        functions=watched,
        powertools_in=powertools_in,
        files=files,
        warnings=warnings,
        title=title,
        body="",
        commit_message=(
            f"{title}\n\nAdded by `fixloop onboard`: structured error logging with stack "
            "traces, error alarms per function, and the subscription that sends error logs "
            "to fixloop."
        ),
    )
    plan_.body = render_body(plan_)
    return plan_
