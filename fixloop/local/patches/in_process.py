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

DynamoDB's requests (most of this process's: a POST to ``/`` with ``X-Amz-Target:
DynamoDB_20120810.*``) also skip the Flask app moto's server routes them to, about a sixth of
their CPU: its one rule sends every such request to ``DynamoHandler.dispatch``, so
:func:`_dispatch_dynamodb` does what its view does (the app's request class, moto's request
recorder, the handler, the app's response class; an ``HTTPException`` answered as Flask
answers it) and adds the headers the app's ``after_request`` functions add to such an answer
(flask-cors' ``Access-Control-Allow-Origin``), learned once from the app itself. The server's
dispatcher still picks the app, and a request with an ``Origin`` header, or an app with other
hooks or rules, goes through Flask.
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
from botocore.exceptions import ClientError
from werkzeug.exceptions import HTTPException, InternalServerError

from fixloop.local.patches.internals import internal, require

LOG = logging.getLogger(__name__)

_REQUEST = "moto.core.request"
_STUBBER = "moto.core.botocore_stubber"
_DYNAMODB = "moto.dynamodb.responses"
_RECORDER = "moto.moto_api"
_DYNAMODB_TARGET = "DynamoDB_20120810."

_lock = threading.Lock()
_apps: dict[str, Any] = {}
"""Endpoint URL (no trailing slash) -> the WSGI application serving it."""


def serve_in_process(endpoint_url: str, app: Any) -> None:
    """Answer this process's botocore requests to ``endpoint_url`` with ``app`` directly."""
    for name in ("PRESERVED_HEADER_NAMES_ENVIRON_KEY", "should_preserve_original_header_name"):
        require(internal(_REQUEST), name, _REQUEST)
    require(internal(_STUBBER), "MockRawResponse", _STUBBER)
    require(require(internal(_DYNAMODB), "DynamoHandler", _DYNAMODB), "dispatch", _DYNAMODB)
    require(internal(_RECORDER), "recorder", _RECORDER)
    require(app, "get_application", "moto.moto_server.werkzeug_app.DomainDispatcherApplication")
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
        # DomainDispatcherApplication.__call__, in its two steps
        backend = app.get_application(environ)
        view = _dynamodb_view(backend, environ)
        if view is not None:
            return _dispatch_dynamodb(backend, view, environ)
        chunks = backend(environ, start_response)
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


_views: dict[int, tuple[Any, Any, list[tuple[str, str]]]] = {}
"""id(Flask app) -> (the app, its DynamoDB view or None when :func:`_dispatch_dynamodb` does
not stand in for it, the headers its ``after_request`` functions add to an answer)."""


def _dynamodb_view(backend: Any, environ: dict[str, Any]) -> Any:
    """The view a DynamoDB request would reach in ``backend``, when Flask can be skipped."""
    if (
        environ["REQUEST_METHOD"] != "POST"
        or environ["PATH_INFO"] != "/"
        or not environ.get("HTTP_X_AMZ_TARGET", "").startswith(_DYNAMODB_TARGET)
        or "HTTP_ORIGIN" in environ
    ):
        return None
    known = _views.get(id(backend))
    if known is None or known[0] is not backend:
        view, added = _learn(backend)
        known = (backend, view, added)
        with _lock:
            _views[id(backend)] = known
    return known[1]


def _learn(backend: Any) -> tuple[Any, list[tuple[str, str]]]:
    """The DynamoDB view of moto's Flask app for DynamoDB (None for any other app), and what
    its ``after_request`` functions add to an answer to a POST without an ``Origin``."""
    dispatch = internal(_DYNAMODB).DynamoHandler.dispatch
    if getattr(backend, "service", None) != "dynamodb" or any(
        any(funcs.values()) if isinstance(funcs, dict) else funcs
        for funcs in (
            backend.before_request_funcs,
            backend.url_value_preprocessors,
            backend.error_handler_spec,
            backend.teardown_request_funcs,
        )
    ):
        return None, []
    rules = list(backend.url_map.iter_rules())
    if len(rules) != 1 or rules[0].rule != "/" or "POST" not in (rules[0].methods or ()):
        return None, []
    view = backend.view_functions.get(rules[0].endpoint)
    if getattr(view, "callback", None) != dispatch:
        return None, []
    with backend.test_request_context("/", method="POST"):
        bare = backend.response_class()
        before = list(bare.headers.items())
        after = list(backend.process_response(bare).headers.items())
    added = [header for header in after if header not in before]
    return view, added


def _dispatch_dynamodb(
    backend: Any, view: Any, environ: dict[str, Any]
) -> tuple[int, list[tuple[str, str]], bytes]:
    """What ``backend`` answers, without Flask: its view (moto's
    ``convert_to_flask_response`` around ``DynamoHandler.dispatch``), then its hooks."""
    request = backend.request_class(environ)
    try:
        internal(_RECORDER).recorder._record_request(request)
        try:
            result = view.callback(request, request.raw_url, dict(request.headers))
        except ClientError as exc:
            result = 400, {}, exc.response["Error"]["Message"]
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        response = backend.response_class(response=content, status=status, headers=headers)
    except HTTPException as exc:  # Flask answers with the exception's own response
        if backend.trap_http_exception(exc):
            raise
        response = backend.response_class.force_type(exc, environ)
    for name, value in _views[id(backend)][2]:
        if name not in response.headers:
            response.headers.add(name, value)
    chunks, status_line, headers_out = response.get_wsgi_response(environ)
    data = b"".join(chunks)
    return int(status_line.split(" ", 1)[0]), list(headers_out), data
