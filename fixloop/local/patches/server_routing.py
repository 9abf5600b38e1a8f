"""Speed: moto's server finds the backend of every request by listing its own package.

``moto.moto_server.werkzeug_app.DomainDispatcherApplication.get_backend_for_host`` checks the
host against ``moto.backends.list_of_moto_modules()`` (an ``os.listdir`` of moto's package
and a ``stat`` of each of its ~250 entries) and then against every backend's URL patterns,
for every request, under the dispatcher's lock. The answer depends on the host alone, so it
is remembered per host.
"""

from __future__ import annotations

import threading
from typing import Any

from fixloop.local.patches.internals import Replacement, require_class

_APP = "moto.moto_server.werkzeug_app"


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

    return [Replacement(dispatcher, "get_backend_for_host", get_backend_for_host)]
