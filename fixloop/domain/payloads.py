"""Reading JSON from outside: bytes that may not be UTF-8, text that may not be JSON, JSON
nested deep enough to exhaust the parser's recursion. Every failure is a
:class:`~fixloop.errors.BadInputError` saying what is wrong, never a ``RecursionError`` or a
``UnicodeDecodeError`` that an endpoint would answer with a 500."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fixloop.errors import BadInputError

__all__ = ["MAX_JSON_DEPTH", "first_problem", "parse_json", "parse_model"]

M = TypeVar("M", bound=BaseModel)

MAX_JSON_DEPTH = 64
"""Deeper than any payload fixloop reads (GitHub's are about 6 levels)."""


def parse_json(data: bytes | str, *, what: str = "body", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of ``data``; :class:`BadInputError` if it is not UTF-8, not JSON, or
    nested more than ``max_depth`` levels."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInputError(f"{what} is not UTF-8 text (byte {exc.start})") from exc
    else:
        text = data
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    except RecursionError as exc:
        raise BadInputError(f"{what} is nested more than {max_depth} levels deep") from exc
    if _depth_over(value, max_depth):
        raise BadInputError(f"{what} is nested more than {max_depth} levels deep")
    return value


def parse_model(model: type[M], data: bytes | str | Any, *, what: str = "body") -> M:
    """``data`` (raw JSON, or a value already parsed) validated as ``model``; a mismatch is a
    :class:`BadInputError` naming the first field at fault."""
    value = parse_json(data, what=what) if isinstance(data, bytes | str) else data
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise BadInputError(f"{what} is not what was expected: {first_problem(exc)}") from exc


def first_problem(exc: ValidationError) -> str:
    """``where: what`` of a validation error's first problem (the input itself left out:
    it may be long, or hostile)."""
    err = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "value"
    return f"{where}: {err['msg']}"


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` containers (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
