"""Load the real Lambda handlers (``functions/<name>/handler.py``) for in-process dispatch."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from fixloop.errors import ConfigError
from fixloop.functions import AFTERCARE_STEPS, CATALOGUE, LOOP_STEPS, spec_of

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = PROJECT_ROOT / "functions"
STATE_MACHINE_FILE = PROJECT_ROOT / "statemachines" / "investigation.asl.json"
AFTERCARE_STATE_MACHINE_FILE = PROJECT_ROOT / "statemachines" / "aftercare.asl.json"

FUNCTIONS: dict[str, str] = {
    spec.asl_placeholder: spec.folder for spec in LOOP_STEPS if spec.asl_placeholder is not None
}
"""ASL placeholder -> function folder, from the catalogue (fixloop/functions.py), which the
CDK stack substitutes too."""
AFTERCARE_FUNCTIONS: dict[str, str] = {
    spec.asl_placeholder: spec.folder
    for spec in AFTERCARE_STEPS
    if spec.asl_placeholder is not None
}
"""The same for the aftercare state machine."""
INVOKED_FUNCTIONS: tuple[str, ...] = tuple(s.folder for s in CATALOGUE if s.invoked_by_name)
"""Functions invoked by name rather than by the state machine, which the runtime also
registers with Lambda: the sandbox calls Repo Token; Slack Events invokes itself (it
acknowledges at once and processes the event in an asynchronous invocation)."""

EXECUTION_END_FUNCTION = "reconcile"
"""The function the CDK app's EventBridge rule invokes when an investigation's execution ends
FAILED, TIMED_OUT or ABORTED (stacks/constructs/reconcile.py). moto's EventBridge invokes no
Lambda target (notes gap 10): the embedded runtime delivers those events to it itself."""

CONTINUE_AS_NEW_PLACEHOLDER = "ContinueAsNewStateMachineArn"
"""ASL placeholder of the ARN Continue As New starts: in AWS the state machine's ``live`` alias
(so the next generation runs the version new executions get), locally the machine itself
(moto has no state machine versions or aliases)."""

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def load_handlers(prefix: str) -> dict[str, Handler]:
    """Map each deployed function name (``{prefix}-{folder}``) to its handler."""
    if not FUNCTIONS_DIR.is_dir():
        raise ConfigError(
            f"the embedded runtime needs the project's functions/ folder; not found at "
            f"{FUNCTIONS_DIR} (run from a source checkout installed with `pip install -e`)"
        )
    handlers: dict[str, Handler] = {}
    for folder in registered_functions():
        spec = spec_of(folder)
        module = load_module(
            FUNCTIONS_DIR / folder / spec.handler_file, f"fixloop_functions_{folder}"
        )
        handlers[f"{prefix}-{folder}"] = getattr(module, spec.handler_function)
    return handlers


def registered_functions() -> tuple[str, ...]:
    """The folders of the functions the embedded runtime registers with Lambda: the loop
    and aftercare steps, those invoked by name, and the one it delivers execution ends to."""
    return (
        *FUNCTIONS.values(),
        *AFTERCARE_FUNCTIONS.values(),
        *INVOKED_FUNCTIONS,
        EXECUTION_END_FUNCTION,
    )


def load_module(path: Path, module_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load handler {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
