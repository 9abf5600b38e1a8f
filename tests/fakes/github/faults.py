"""Fault injection for the local GitHub API: lost responses, primary and secondary rate
limits, any error reply; and the rate-limit headers every answer carries."""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from tests.fakes.github.protocol import DOCS, JsonDict, RecordedRequest, Reply

__all__ = ["SECONDARY_RATE_LIMIT_MESSAGE", "Faults"]

SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID {id}."
)
_LIMITS_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


@dataclass(frozen=True)
class _RateLimit:
    kind: str
    status: int
    reset_in: int
    retry_after: int | None
    when: str


@dataclass
class _InjectedError:
    status: int
    body: JsonDict
    headers: dict[str, str]
    when: str
    times: int


class Faults:
    """The faults queued for the next requests. Not thread-safe: the server holds its lock
    around every call."""

    def __init__(self) -> None:
        self._rate_limits: list[_RateLimit] = []
        self._injected: list[_InjectedError] = []
        self._drop_countdown: int | None = None
        self._request_ids = 0
        self._remaining = 5000

    def fail_after(self, n: int) -> None:
        """See :meth:`GitHubServer.fail_after`."""
        if n < 1:
            raise ValueError("n counts requests from 1")
        self._drop_countdown = n

    def rate_limit(
        self,
        kind: Literal["primary", "secondary"],
        times: int,
        *,
        retry_after: int | None,
        reset_in: int,
        when: str,
        status: Literal[403, 429],
    ) -> None:
        """See :meth:`GitHubServer.rate_limit`."""
        for _ in range(times):
            self._rate_limits.append(_RateLimit(kind, status, reset_in, retry_after, when))

    def inject_error(
        self, status: int, message: str, *, times: int, when: str, headers: Mapping[str, str]
    ) -> None:
        """See :meth:`GitHubServer.inject_error`."""
        body = {"message": message, "documentation_url": DOCS, "status": str(status)}
        self._injected.append(_InjectedError(status, body, dict(headers), when, times))

    def arrived(self) -> bool:
        """Count a new request; whether its connection is to be dropped once it is served."""
        self._request_ids += 1
        if self._drop_countdown is not None:
            self._drop_countdown -= 1
            if self._drop_countdown == 0:
                self._drop_countdown = None
                return True
        return False

    def rate_headers(self) -> dict[str, str]:
        """The headers of an answer: the core quota, one request less each time."""
        self._remaining = max(self._remaining - 1, 1)
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(self._remaining),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-used": str(5000 - self._remaining),
            "x-ratelimit-resource": "core",
            "x-github-request-id": f"FAKE:{self._request_ids:08X}",
        }

    def check(self, request: RecordedRequest) -> None:
        """Raise the :class:`Reply` of the first rate limit or injected error that matches
        ``request`` (using it up)."""
        line = f"{request.method} {request.path}"
        for index, limit in enumerate(self._rate_limits):
            if fnmatch.fnmatchcase(line, limit.when):
                del self._rate_limits[index]
                raise self._rate_limited(limit)
        for injected in self._injected:
            if injected.times > 0 and fnmatch.fnmatchcase(line, injected.when):
                injected.times -= 1
                raise Reply(injected.status, dict(injected.body), injected.headers)
        self._injected = [i for i in self._injected if i.times > 0]

    def _rate_limited(self, limit: _RateLimit) -> Reply:
        reset = str(int(time.time()) + limit.reset_in)
        if limit.kind == "primary":
            return Reply(
                limit.status,
                {
                    "message": "API rate limit exceeded for installation ID 1.",
                    "documentation_url": f"{_LIMITS_DOCS}#about-primary-rate-limits",
                    "status": str(limit.status),
                },
                {
                    "x-ratelimit-limit": "5000",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-used": "5000",
                    "x-ratelimit-reset": reset,
                },
            )
        headers = {"retry-after": str(limit.retry_after)} if limit.retry_after is not None else {}
        message = SECONDARY_RATE_LIMIT_MESSAGE.format(id=f"FAKE:{self._request_ids:08X}")
        return Reply(
            limit.status,
            {
                "message": message,
                "documentation_url": f"{_LIMITS_DOCS}#about-secondary-rate-limits",
                "status": str(limit.status),
            },
            headers,
        )
