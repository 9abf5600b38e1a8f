"""What every part of the local GitHub API shares: the recorded request, error replies in
GitHub's shape, and the small JSON helpers."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "DOCS",
    "JsonDict",
    "RecordedRequest",
    "Reply",
    "Route",
    "error",
    "iso",
    "node_id",
    "required",
    "validation_failed",
]

JsonDict = dict[str, Any]

Route = tuple[str, str, Callable[..., tuple[int, Any]]]
"""(method, pattern of the path after ``/repos/{owner}/{repo}/``, handler): the handler gets
the JSON body, the query and the pattern's groups, and returns (status, body)."""

DOCS = "https://docs.github.com/rest"


@dataclass
class RecordedRequest:
    """One request as the server received it (header names in lower case)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int | None = None
    """The status answered; None while in progress or when the connection was dropped."""

    @property
    def endpoint(self) -> str:
        """``METHOD path`` with the repository prefix cut, e.g. ``POST git/refs`` (``GET
        repo`` for the repository itself)."""
        path = re.sub(r"^/repos/[^/]+/[^/]+/?", "", self.path)
        return f"{self.method} {path or 'repo'}"


class Reply(Exception):
    """Raised by a route to answer with an error (or any status and body)."""

    def __init__(
        self,
        status: int,
        body: JsonDict | list[Any] | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def error(status: int, message: str, **extra: Any) -> Reply:
    return Reply(
        status, {"message": message, "documentation_url": DOCS, "status": str(status), **extra}
    )


def validation_failed(resource: str, code: str, message: str = "", **fields: Any) -> Reply:
    detail: JsonDict = {"resource": resource, "code": code, **fields}
    if message:
        detail["message"] = message
    return error(422, "Validation Failed", errors=[detail])


def required(body: Any, name: str, kind: type) -> Any:
    """``body[name]``, which must be a ``kind``; GitHub's 400 or 422 otherwise."""
    if not isinstance(body, dict):
        raise error(400, "Problems parsing JSON")
    value = body.get(name)
    if not isinstance(value, kind):
        raise error(422, f'Invalid request.\n\n"{name}" wasn\'t supplied.')
    return value


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, key: str) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode()
