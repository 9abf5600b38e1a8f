"""Gap: moto's DynamoDB backend is not thread-safe.

``transact_write_items`` deep-copies every table for its rollback while other requests change
them ("dictionary changed size during iteration"), and a query iterates a table's items while
puts add to them. DynamoDB itself applies each request atomically, so
``moto.dynamodb.responses.DynamoHandler.call_action`` is wrapped to serve one request at a
time. (The process runs one Python thread at a time anyway: the lock costs no parallelism.)
"""

from __future__ import annotations

import threading
from typing import Any

from fixloop.local.patches.internals import Replacement, require_class

_RESPONSES = "moto.dynamodb.responses"
_LOCK = threading.Lock()


def replacements() -> list[Replacement]:
    handler = require_class(_RESPONSES, "DynamoHandler", "call_action")
    original = handler.call_action

    def call_action(self: Any) -> Any:
        """``DynamoHandler.call_action``, one request at a time."""
        with _LOCK:
            return original(self)

    return [Replacement(handler, "call_action", call_action)]
