"""A local HTTP server speaking the part of Linear's GraphQL API fixloop uses
(``issueCreate``, ``commentCreate``, and ``organization``, from which the organization the API
key belongs to is learned), for tests of fixloop's Linear client::

    with LinearServer(api_key="lin_api_test") as linear:
        ... settings linear_api_url=linear.url ...
        assert linear.comments[0]["body"] == ...

``POST /graphql`` with ``{"query", "variables"}``; the API key comes as ``Authorization``
(an unknown one answers 401 with a GraphQL error whose ``extensions.code`` is
``AUTHENTICATION_ERROR``, as Linear does). ``query { organization { id } }`` answers the key's
organization. An ``id`` given in the input is used as the entity's id; an id already taken
answers an error saying so. The next :attr:`fail_next` requests answer 503 (an outage).
Every request is recorded in :attr:`requests`.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from fixloop.httpserver import BackgroundServer, json_post_handler

__all__ = ["LinearServer"]


@dataclass
class LinearServer:
    api_key: str = "lin_api_test"
    organization_id: str = "org-1"
    """The organization the API key belongs to."""
    fail_next: int = 0
    """This many of the coming requests answer 503 (an outage)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: BackgroundServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        return self._server.base_url + "/graphql"

    def __enter__(self) -> LinearServer:
        def answer(request: BaseHTTPRequestHandler, raw: bytes) -> tuple[int, Any]:
            return self._call(request.headers.get("Authorization", ""), raw)

        handler = json_post_handler(answer)
        self._server = BackgroundServer("127.0.0.1", 0, handler, "linear-server").start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()

    def add_issue(self, issue_id: str, title: str = "An issue") -> None:
        """An issue that exists already (made by a person in Linear)."""
        with self._lock:
            self.issues[issue_id] = {"id": issue_id, "title": title, "identifier": "ENG-0"}

    def _call(self, auth: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            request = json.loads(raw or b"{}")
            self.requests.append({"auth": auth, **request})
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, {"errors": [{"message": "Service unavailable"}]}
            if auth != self.api_key:
                return 401, {"errors": [_AUTHENTICATION_ERROR]}
            query = str(request.get("query", ""))
            if not query.lstrip().startswith("mutation"):  # a query, maybe anonymous
                return self._query(query)
            data = (request.get("variables") or {}).get("input") or {}
            entity_id = str(data.get("id") or uuid.uuid4())
            taken = entity_id in self.issues or any(c["id"] == entity_id for c in self.comments)
            if taken:
                return 200, {"errors": [{"message": f"Entity {entity_id} already exists"}]}
            if "issueCreate" in query:
                if not data.get("teamId") or not data.get("title"):
                    return 200, {"errors": [{"message": "teamId and title are required"}]}
                issue = {"id": entity_id, "identifier": f"ENG-{len(self.issues) + 1}", **data}
                issue["url"] = f"https://linear.app/acme/issue/{issue['identifier']}"
                self.issues[entity_id] = issue
                return 200, {"data": {"issueCreate": {"success": True, "issue": issue}}}
            if "commentCreate" in query:
                if data.get("issueId") not in self.issues:
                    return 200, {"errors": [{"message": "Entity not found: Issue"}]}
                comment = {"id": entity_id, **data}
                self.comments.append(comment)
                return 200, {"data": {"commentCreate": {"success": True, "comment": comment}}}
            return 200, {"errors": [{"message": "unsupported operation"}]}

    def _query(self, query: str) -> tuple[int, dict[str, Any]]:
        if re.search(r"\borganization\s*\{", query):
            organization = {"id": self.organization_id, "name": "Acme", "urlKey": "acme"}
            return 200, {"data": {"organization": organization}}
        return 200, {"errors": [{"message": "unsupported query"}]}


_AUTHENTICATION_ERROR = {
    "message": "Authentication required, not authenticated",
    "extensions": {
        "type": "authentication error",
        "code": "AUTHENTICATION_ERROR",
        "userPresentableMessage": "You need to authenticate to access this operation.",
    },
}
