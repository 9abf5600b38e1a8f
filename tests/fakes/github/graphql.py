"""GitHub's GraphQL endpoint (``POST /graphql``), for the two mutations delivery uses:
``markPullRequestReadyForReview`` and ``convertPullRequestToDraft`` (the REST API cannot
change a pull request's draft state).

As GitHub answers: HTTP 200 with ``data`` and, for a problem, ``errors`` (a node id that
names nothing is ``type: NOT_FOUND``); a query that is none of these is an error too.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.github.pulls import PullRequests

__all__ = ["answer_graphql"]

MUTATIONS = {"markPullRequestReadyForReview": False, "convertPullRequestToDraft": True}
"""Mutation -> the draft state it leaves."""
_MUTATION = re.compile(r"\{\s*(\w+)\s*\(\s*input:\s*\$input\s*\)")


def answer_graphql(pulls: PullRequests, body: Any) -> tuple[int, Any]:
    query = body.get("query") if isinstance(body, dict) else None
    variables = body.get("variables") if isinstance(body, dict) else None
    if not isinstance(query, str):
        return 400, {"message": "Problems parsing JSON"}
    match = _MUTATION.search(query)
    if match is None or match.group(1) not in MUTATIONS:
        return 200, {"errors": [{"message": "this fake serves two mutations only"}]}
    name = match.group(1)
    given = (variables or {}).get("input") if isinstance(variables, dict) else None
    pull_id = given.get("pullRequestId") if isinstance(given, dict) else None
    number = pulls.number_of(pull_id) if isinstance(pull_id, str) else None
    if number is None:
        message = f"Could not resolve to a node with the global id of '{pull_id}'"
        return 200, {
            "data": {name: None},
            "errors": [{"type": "NOT_FOUND", "path": [name], "message": message}],
        }
    try:
        pulls.set_draft(number, MUTATIONS[name])
    except ValueError as exc:
        return 200, {
            "data": {name: None},
            "errors": [{"type": "UNPROCESSABLE", "path": [name], "message": str(exc)}],
        }
    result = {"clientMutationId": None, "pullRequest": {"isDraft": MUTATIONS[name]}}
    return 200, {"data": {name: result}}
