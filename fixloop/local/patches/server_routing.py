"""Speed: moto's server routes every request by listing its own package and a class.

``moto.moto_server.werkzeug_app.DomainDispatcherApplication.get_backend_for_host`` checks the
host against ``moto.backends.list_of_moto_modules()`` (an ``os.listdir`` of moto's package
and a ``stat`` of each of its ~250 entries) and then against every backend's URL patterns,
for every request, under the dispatcher's lock. The answer depends on the host alone, so it
is remembered per host.

``moto.core.responses.BaseResponse.call_action`` then looks for the action among the
functions of the response class with ``method_names_from_class`` (``inspect.getmembers``:
every attribute of the class, sorted), for every request. The names depend on the class
alone (patches replace methods, they add none), so they are listed once per class.
"""

from __future__ import annotations

import threading
from typing import Any

from fixloop.local.patches.internals import Replacement, internal, require, require_class

_APP = "moto.moto_server.werkzeug_app"
_RESPONSES = "moto.core.responses"


def replacements() -> list[Replacement]:
    dispatcher = require_class(_APP, "DomainDispatcherApplication", "get_backend_for_host")
    original = dispatcher.get_backend_for_host
    known: dict[str | None, Any] = {}
    lock = threading.Lock()

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        try:
            return known[host]
        except KeyError:
            pass
        backend = original(self, host)
        with lock:
            known[host] = backend
        return backend

    responses = internal(_RESPONSES)
    list_names = require(responses, "method_names_from_class", _RESPONSES)
    names: dict[type, list[str]] = {}

    def method_names_from_class(cls: type) -> list[str]:
        try:
            return names[cls]
        except KeyError:
            pass
        found: list[str] = list_names(cls)
        with lock:
            names[cls] = found
        return found

    return [
        Replacement(dispatcher, "get_backend_for_host", get_backend_for_host),
        Replacement(responses, "method_names_from_class", method_names_from_class),
    ]
