"""What an onboarding plan is made of: the handlers and functions found, the files planned,
the paths those files take in the service, and what a Lambda function name may be."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from fixloop.errors import FixloopError

__all__ = [
    "CDK_PATH",
    "DOCS_PATH",
    "FUNCTION_NAME",
    "GENERATED",
    "LOGGING_MODULE",
    "PACKAGE",
    "PACKAGE_INIT",
    "POWERTOOLS",
    "POWERTOOLS_REQUIREMENT",
    "TEMPLATE_PATH",
    "DetectedHandler",
    "NothingToChange",
    "OnboardingPlan",
    "PlannedFile",
    "WatchedFunction",
    "sanitise",
]

POWERTOOLS = "aws-lambda-powertools"
POWERTOOLS_REQUIREMENT = "aws-lambda-powertools>=3,<4"
PACKAGE = "fixloop_instrumentation"
LOGGING_MODULE = f"{PACKAGE}/logging.py"
PACKAGE_INIT = f"{PACKAGE}/__init__.py"
TEMPLATE_PATH = "fixloop/cloudformation/error-alarms.yaml"
CDK_PATH = "fixloop/cdk/error_alarms.py"
DOCS_PATH = "fixloop/README.md"
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
GENERATED = {PACKAGE_INIT, LOGGING_MODULE, TEMPLATE_PATH, CDK_PATH, DOCS_PATH}


class NothingToChange(FixloopError):
    """The repository already has everything the onboarding would add."""


class DetectedHandler(BaseModel):
    """A Python Lambda handler found in the repository."""

    path: str
    """Relative POSIX path of the module."""
    function: str
    """``lambda_handler`` or ``handler``."""
    line: int
    wrapped: bool = False
    """Already decorated with ``inject_lambda_context`` and ``log_unhandled_errors``."""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line} {self.function}"


class WatchedFunction(BaseModel):
    """A Lambda function whose log group the template watches."""

    name: str
    log_group: str
    source: Literal["--function", "template.yaml", "serverless.yml", "handler module"]
    handler: str = ""
    """Where its code is, when known (``path:function``)."""


class PlannedFile(BaseModel):
    path: str
    content: str
    action: Literal["add", "change"]
    reason: str


class OnboardingPlan(BaseModel):
    repo_name: str
    base_commit: str
    handlers: list[DetectedHandler]
    functions: list[WatchedFunction]
    powertools_in: list[str] = Field(default_factory=list)
    """Dependency files that already list aws-lambda-powertools."""
    files: list[PlannedFile]
    warnings: list[str] = Field(default_factory=list)
    title: str
    body: str
    commit_message: str

    @property
    def summary(self) -> str:
        """What the pull request does, in a few lines for a person at a terminal."""
        lines = [f"{self.title} (at {self.base_commit[:12]})"]
        handlers = ", ".join(h.where for h in self.handlers) or "none found"
        lines.append(f"  handlers   {handlers}")
        for fn in self.functions:
            lines.append(f"  watches    {fn.log_group}  (name from {fn.source})")
        for f in self.files:
            lines.append(f"  {f.action:<10} {f.path}  {f.reason}")
        for warning in self.warnings:
            lines.append(f"  note       {warning}")
        return "\n".join(lines)


def sanitise(name: str) -> str:
    """``name`` as a Lambda function name: runs of other characters become ``-``."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")
    return cleaned[:64] or "function"
