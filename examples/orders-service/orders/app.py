"""The HTTP API (WSGI): POST /checkout {"items": [...], "coupon": "..."}."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from orders.pricing import order_total

logger = logging.getLogger("orders")


def handle_checkout(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    total = order_total(body["items"], body.get("coupon"))
    return 200, {"total": str(total)}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") != "/checkout" or environ.get("REQUEST_METHOD") != "POST":
        status, payload = 404, {"error": "not found"}
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            status, payload = handle_checkout(json.loads(environ["wsgi.input"].read(length)))
        except Exception:
            logger.exception("checkout failed")
            status, payload = 500, {"error": "internal error"}
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}
    start_response(f"{status} {reason[status]}", [("Content-Type", "application/json")])
    return [json.dumps(payload).encode()]
