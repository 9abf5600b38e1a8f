"""The chaos's gate on moto's server: a request the chaos fails is answered before moto sees it.

``moto.moto_server.werkzeug_app.DomainDispatcherApplication.get_application`` (which finds
the backend serving a request, after the run's credential is checked) is wrapped once for
every fault that answers requests itself (two patches replacing one attribute would not
compose: each wraps the original). It asks each in turn, and the first answer is the
request's:

- :func:`.chaos_lambda_timeout.refusal`: a timed-out invocation's thread is frozen;
- :func:`.chaos_dynamodb.answer`: a throttle or a transaction conflict.
"""

from __future__ import annotations

from typing import Any

from fixloop.local.patches import chaos_dynamodb, chaos_lambda_timeout
from fixloop.local.patches.internals import Replacement, require_class

__all__ = ["replacements"]

_APP = "moto.moto_server.werkzeug_app"
_GATES = (chaos_lambda_timeout.refusal, chaos_dynamodb.answer)


def replacements() -> list[Replacement]:
    dispatcher = require_class(_APP, "DomainDispatcherApplication", "get_application")
    original = dispatcher.get_application

    def get_application(self: Any, environ: dict[str, Any]) -> Any:
        for gate in _GATES:
            answer = gate(environ)
            if answer is not None:
                return answer
        return original(self, environ)

    return [Replacement(dispatcher, "get_application", get_application)]
