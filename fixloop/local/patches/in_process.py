"""Speed: a request from this process to the moto server it runs went through HTTP.

moto's server is werkzeug's development server, which closes every connection: each call
paid a TCP connection, a server thread, and HTTP written and parsed on both sides, about half
of the CPU a DynamoDB call costs, for handlers that run in the same process as the server.
:func:`serve_in_process` registers a botocore ``before-send`` handler (as moto's own
in-process mock does, through ``botocore.handlers.BUILTIN_HANDLERS``, so every session made
afterwards has it) that answers requests to that endpoint by calling the server's WSGI
application in the calling thread, with the environ werkzeug and moto's request handler
would have built. The application, and so everything moto does, is the same; an exception in
it becomes a 500 as the server answers. Other processes (the sandboxes) still use HTTP, and
so does a request with a chunked body.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

import botocore.handlers
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from werkzeug.exceptions import InternalServerError

from fixloop.local.patches.internals import internal, require

LOG = logging.getLogger(__name__)

_REQUEST = "moto.core.request"
_STUBBER = "moto.core.botocore_stubber"

_lock = threading.Lock()
_apps: dict[str, Any] = {}
"""Endpoint URL (no trailing slash) -> the WSGI application serving it."""


def serve_in_process(endpoint_url: str, app: Any) -> None:
    """Answer this process's botocore requests to ``endpoint_url`` with ``app`` directly."""
    for name in ("PRESERVED_HEADER_NAMES_ENVIRON_KEY", "should_preserve_original_header_name"):
        require(internal(_REQUEST), name, _REQUEST)
    require(internal(_STUBBER), "MockRawResponse", _STUBBER)
    with _lock:
        _apps[endpoint_url.rstrip("/")] = app
        if ("before-send", _before_send) not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(("before-send", _before_send))


def stop_serving(endpoint_url: str) -> None:
    """Send requests to ``endpoint_url`` over HTTP again."""
    with _lock:
        _apps.pop(endpoint_url.rstrip("/"), None)


def server_app(server: Any) -> Any:
    """The WSGI application of a started ``moto.server.ThreadedMotoServer``."""
    wsgi_server = require(server, "_server", "moto.server.ThreadedMotoServer")
    return require(wsgi_server, "app", "moto.server.ThreadedMotoServer._server")


def _before_send(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
    if not _apps:
        return None
    parts = urlsplit(request.url)
    app = _apps.get(f"{parts.scheme}://{parts.netloc}")
    if app is None or "transfer-encoding" in request.headers:
        return None
    body = _body(request.body)
    environ = _environ(request, parts, body)
    status, headers, data = _call(app, environ)
    if request.method == "HEAD":
        data = b""
    raw = internal(_STUBBER).MockRawResponse(data)
    return AWSResponse(request.url, status, headers, raw)


def _body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    data = body.read()  # a stream: botocore rewinds it itself before a retry
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _latin1(text: str) -> str:
    """WSGI's "bytes as latin-1" str, as werkzeug passes paths and query strings."""
    return text.encode("utf-8").decode("latin-1")


def _environ(request: AWSPreparedRequest, parts: Any, body: bytes) -> dict[str, Any]:
    """The environ werkzeug's server, with moto's request handler, builds for ``request``."""
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": _latin1(unquote(parts.path)),
        "QUERY_STRING": _latin1(parts.query),
        "REQUEST_URI": _latin1(target),
        "RAW_URI": _latin1(target),
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": 0,
        "SERVER_NAME": parts.hostname or "",
        "SERVER_PORT": str(parts.port or 80),
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    moto_request = internal(_REQUEST)
    headers = [
        (name, (value.decode("latin-1") if isinstance(value, bytes) else str(value)))
        for name, value in request.headers.items()
    ]
    dashed = {_environ_key(name) for name, _ in headers if "_" not in name}
    preserved: dict[str, str] = {}
    for name, raw_value in headers:
        value = raw_value.replace("\r\n", "")
        key = _environ_key(name)
        if "_" in name:
            # werkzeug drops these; moto's request handler keeps S3 metadata names.
            if moto_request.should_preserve_original_header_name(name) and key not in dashed:
                preserved.setdefault(key, name)
                environ[key] = f"{environ[key]},{value}" if key in environ else value
            continue
        if key.startswith("HTTP_") and key in environ:
            value = f"{environ[key]},{value}"
        environ[key] = value
    environ.setdefault("HTTP_HOST", parts.netloc)  # http.client sends it
    if "CONTENT_LENGTH" not in environ and (body or request.method in {"POST", "PUT", "PATCH"}):
        environ["CONTENT_LENGTH"] = str(len(body))  # and this
    environ[moto_request.PRESERVED_HEADER_NAMES_ENVIRON_KEY] = preserved
    return environ


def _environ_key(header: str) -> str:
    key = header.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"


def _call(app: Any, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [(status, headers)]
        return lambda _data: None

    try:
        chunks = app(environ, start_response)
        try:
            data = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
    except Exception:  # as werkzeug's server: log it, answer its 500 page
        LOG.exception("Error on request %s %s", environ["REQUEST_METHOD"], environ["PATH_INFO"])
        page = InternalServerError().get_response()
        return page.status_code, list(page.headers.items()), page.get_data()
    status, headers = started[0]
    return int(status.split(" ", 1)[0]), headers, data
