"""A local HTTP server speaking the part of Linear's GraphQL API fixloop uses
(``issueCreate``, ``commentCreate``), for tests of fixloop's Linear client::

    with LinearServer(api_key="lin_api_test") as linear:
        ... settings linear_api_url=linear.url ...
        assert linear.comments[0]["body"] == ...

``POST /graphql`` with ``{"query", "variables"}``; the API key comes as ``Authorization``
(an unknown one answers 401 with a GraphQL error, as Linear does). An ``id`` given in the
input is used as the entity's id; an id already taken answers an error saying so. Every
request is recorded in :attr:`requests`.
"""

from __future__ import annotations

import json
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
            if auth != self.api_key:
                return 401, {"errors": [{"message": "Authentication required, not authenticated"}]}
            query = str(request.get("query", ""))
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
