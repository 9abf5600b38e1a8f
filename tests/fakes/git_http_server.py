"""A local git server speaking git's smart HTTP protocol (read only), with GitHub's token auth.

It serves one bare repository at ``{base_url}/{owner}/{name}.git`` through ``git
http-backend`` (git's own CGI program, so the protocol is git's, not an imitation) and, like
GitHub, wants ``Authorization: Basic base64("x-access-token:" + TOKEN)`` on every request,
answering 401 with ``WWW-Authenticate`` otherwise. ``accepts`` decides which tokens are valid
(a test hands it the tokens a local GitHub server issued). Pushes are refused (403).

Every request's path and whether it was authorised are recorded in :attr:`requests`.
"""

from __future__ import annotations

import base64
import binascii
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from fixloop.httpserver import BackgroundServer

__all__ = ["GitHttpServer", "GitRequest"]


@dataclass(frozen=True)
class GitRequest:
    method: str
    path: str
    token: str | None
    """The token the request carried, if any."""
    authorised: bool


class GitHttpServer(BackgroundServer):
    def __init__(
        self,
        git_dir: Path,
        *,
        owner: str,
        name: str,
        accepts: Callable[[str], bool],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.git_dir = Path(git_dir)
        self.owner = owner
        self.name = name
        self.accepts = accepts
        self.requests: list[GitRequest] = []
        super().__init__(host, port, _handler_for(self), "git-http-server")

    @property
    def clone_url(self) -> str:
        return f"{self.base_url}/{self.owner}/{self.name}.git"


def _token(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password if user == "x-access-token" and password else None


def _handler_for(server: GitHttpServer) -> type[BaseHTTPRequestHandler]:
    prefix = f"/{server.owner}/{server.name}.git"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            token = _token(self.headers.get("authorization", ""))
            authorised = token is not None and server.accepts(token)
            server.requests.append(GitRequest(method, url.path, token, authorised))
            if not url.path.startswith(prefix + "/"):
                self._reply(404, b"Repository not found.\n")
            elif not authorised:
                self._reply(401, b"Invalid username or token.\n", auth=True)
            elif "receive-pack" in url.path or "receive-pack" in url.query:
                self._reply(403, b"Write access to repository not granted.\n")
            else:
                self._backend(method, url.path[len(prefix) :], url.query, body)

        def _backend(self, method: str, path_info: str, query: str, body: bytes) -> None:
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(server.git_dir),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path_info,
                "QUERY_STRING": query,
                "REQUEST_METHOD": method,
                "CONTENT_TYPE": self.headers.get("content-type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "GIT_PROTOCOL": self.headers.get("git-protocol", ""),
                "REMOTE_USER": "x-access-token",
                "REMOTE_ADDR": self.client_address[0],
            }
            proc = subprocess.run(
                ["git", "http-backend"], input=body, capture_output=True, env=env, check=False
            )
            head, _, payload = proc.stdout.partition(b"\r\n\r\n")
            status, headers = 200, []
            for line in head.decode("latin-1").split("\r\n"):
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.strip().split()[0])
                elif key:
                    headers.append((key, value.strip()))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _reply(self, status: int, text: bytes, *, auth: bool = False) -> None:
            self.send_response(status)
            if auth:
                self.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

    return Handler
