"""Chaos: ``States.Runtime`` as Step Functions raises it, and as it cannot be caught.

AWS: a Choice rule whose ``Variable`` path is not in the state's input fails the execution
with ``States.Runtime``, "Invalid path '$.x': The choice state's condition path references
an invalid value." (only ``IsPresent`` tests for a missing path). ``States.Runtime`` is
terminal: "A retry or catch on States.ALL won't catch States.Runtime errors", nor
``States.DataLimitExceeded``; the execution ends FAILED without any Catch running.
(Step Functions developer guide, "Handling errors in Step Functions workflows": States.ALL,
States.Runtime, States.DataLimitExceeded.)

moto's interpreter is kinder on both counts: a missing ``Variable`` makes the rule false, so
the Choice falls through to its ``Default``; and ``States.ALL`` matches every error, so a
``Retry`` retries ``States.Runtime`` and a ``Catch`` catches it (a missing ``Parameters`` or
``ResultSelector`` path, an ``InputPath``, ``OutputPath``, ``ItemsPath``,
``MaxConcurrencyPath`` or ``HeartbeatSecondsPath`` that selects nothing: moto does raise
``States.Runtime`` for those, and then lets fixloop's ``States.ALL`` Catch send them to Mark
Failed). With ``missing_path_runtime`` in ``FIXLOOP_CHAOS``:

- ``ComparisonVariable._eval_body`` (a Choice rule's test) fails with AWS's
  ``States.Runtime`` when its ``Variable`` is missing, unless the test is ``IsPresent``;
- ``ErrorEqualsDecl._eval_body`` (a Retrier's or Catcher's ``ErrorEquals``) never matches
  ``States.Runtime`` or ``States.DataLimitExceeded``, so the execution fails.

An investigation whose execution ends that way is closed by ``reconcile``, which the
embedded runtime invokes on the execution's status change (:mod:`.execution_events`).
"""

from __future__ import annotations

from typing import Any

from fixloop.local.patches import chaos
from fixloop.local.patches.internals import Replacement, internal, require, require_class

__all__ = ["missing_path_cause", "replacements"]

_COMPARISON = "moto.stepfunctions.parser.asl.component.state.choice.comparison"
_VARIABLE = f"{_COMPARISON}.variable"
_RULE = f"{_COMPARISON}.comparison_variable"
_OPERATORS = f"{_COMPARISON}.comparison_operator_type"
_ERRORS = "moto.stepfunctions.parser.asl.component.common.error_name"
_EQUALS = f"{_ERRORS}.error_equals_decl"
_NAMES = f"{_ERRORS}.states_error_name"
_TYPES = f"{_ERRORS}.states_error_name_type"
_FAILURE = f"{_ERRORS}.failure_event"
_API = "moto.stepfunctions.parser.api"
_DETAILS = "moto.stepfunctions.parser.asl.eval.event.event_detail"


def missing_path_cause(path: str) -> str:
    """Step Functions' cause for a Choice rule whose ``Variable`` is missing."""
    return f"Invalid path '{path}': The choice state's condition path references an invalid value."


def replacements() -> list[Replacement]:
    rule = require_class(_RULE, "ComparisonVariable", "_eval_body")
    no_such_variable = require_class(_VARIABLE, "NoSuchVariable")
    is_present = require(
        require_class(_OPERATORS, "ComparisonOperatorType"), "IsPresent", _OPERATORS
    )
    equals = require_class(_EQUALS, "ErrorEqualsDecl", "_eval_body")
    states_error = require_class(_NAMES, "StatesErrorName")
    types = require_class(_TYPES, "StatesErrorNameType")
    terminal = {
        require(types, "StatesRuntime", _TYPES),
        require(types, "StatesStatesDataLimitExceeded", _TYPES),
    }
    failure = require_class(_FAILURE, "FailureEventException")
    failure_event = require_class(_FAILURE, "FailureEvent")
    api = internal(_API)
    for name in ("HistoryEventType", "TaskFailedEventDetails"):
        require(api, name, _API)
    event_details = require_class(_DETAILS, "EventDetails")
    runtime = require(types, "StatesRuntime", _TYPES)
    original_rule = rule._eval_body
    original_equals = equals._eval_body

    def rule_eval_body(self: Any, env: Any) -> None:
        if not chaos.current().missing_path_runtime:
            original_rule(self, env)
            return
        self.variable.eval(env)
        value = env.stack[-1]
        if isinstance(value, no_such_variable) and (
            getattr(self.comparison_function, "operator_type", None) != is_present
        ):
            env.stack.pop()
            chaos.record("missing_path_runtime")
            path = str(self.variable.string_sampler.literal_value)
            error = runtime.to_name()
            raise failure(
                failure_event=failure_event(
                    env=env,
                    error_name=states_error(typ=runtime),
                    event_type=api.HistoryEventType.TaskFailed,
                    event_details=event_details(
                        taskFailedEventDetails=api.TaskFailedEventDetails(
                            error=error, cause=missing_path_cause(path)
                        )
                    ),
                )
            )
        self.comparison_function.eval(env)

    def equals_eval_body(self: Any, env: Any) -> None:
        error_name = env.stack[-1]
        if (
            chaos.current().missing_path_runtime
            and isinstance(error_name, states_error)
            and error_name.typ in terminal
        ):
            env.stack.pop()
            env.stack.append(False)
            chaos.record("missing_path_runtime")
            return
        original_equals(self, env)

    return [
        Replacement(rule, "_eval_body", rule_eval_body),
        Replacement(equals, "_eval_body", equals_eval_body),
    ]
