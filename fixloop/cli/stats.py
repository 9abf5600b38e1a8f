"""``fixloop stats``: outcomes per service and overall (fixloop.aftercare.stats).

From a running fixloop's REST API (``--url``: ``fixloop serve``'s, or API Gateway's), from the
tables of the AWS the environment names (``--aws``, or ``AWS_ENDPOINT_URL`` set: a local AWS
such as another fixloop's embedded runtime), or else from the investigations previous
commands kept (``$FIXLOOP_HOME/investigations``).
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from typing import Any

from fixloop.aftercare import outcome_stats
from fixloop.cli import records
from fixloop.domain import Investigation
from fixloop.domain.payloads import parse_json
from fixloop.errors import BadInputError, ConfigError
from fixloop.store import stores
from fixloop.store.investigations import MAX_SCANNED

__all__ = ["render", "stats"]

COLUMNS = (
    ("investigations", "investigations"),
    ("pull_requests", "pull requests"),
    ("merged", "merged"),
    ("verified", "verified"),
    ("recurred", "recurred"),
)


def stats(args: argparse.Namespace) -> int:
    if args.url:
        data = _from_url(args.url)
    elif args.aws or os.environ.get("AWS_ENDPOINT_URL"):
        data = outcome_stats(stores().investigations.list(limit=MAX_SCANNED)).as_json()
    else:
        data = outcome_stats(_kept()).as_json()
    if args.json:
        print(json.dumps(data, sort_keys=True))
    else:
        print(render(data))
    return 0


def render(data: dict[str, Any]) -> str:
    """The figures as a table: a row per service, then the overall row."""
    rows = [*sorted(data["services"].items()), ("(overall)", data["overall"])]
    width = max([len("service"), *(len(name) for name, _ in rows)])
    head = f"{'service':<{width}}  " + "  ".join(title for _, title in COLUMNS)
    head += "  to pull request  to verified  model cost"
    lines = [head]
    for name, figures in rows:
        counts = "  ".join(f"{figures[key]:>{len(title)}}" for key, title in COLUMNS)
        lines.append(
            f"{name:<{width}}  {counts}  "
            f"{_span(figures['median_seconds_to_pull_request']):>16}  "
            f"{_span(figures['median_seconds_to_verified']):>11}  "
            f"{'$' + format(figures['cost_usd'], '.4f'):>10}"
        )
    lines.append("(times are medians from the signal; cost: model tokens at list prices)")
    return "\n".join(lines)


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _from_url(url: str) -> dict[str, Any]:
    if not url.startswith(("http://", "https://")):
        raise BadInputError(f"--url {url[:80]}: expected http:// or https://")
    request = urllib.request.Request(url.rstrip("/") + "/stats", method="GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            body = resp.read(10 * 1024 * 1024)
    except (urllib.error.URLError, OSError) as exc:
        raise ConfigError(f"cannot read {url}/stats: {exc}") from exc
    data = parse_json(body, what=f"{url}/stats")
    if not isinstance(data, dict) or "overall" not in data:
        raise BadInputError(f"{url}/stats did not answer with fixloop's figures")
    return data


def _kept() -> list[Investigation]:
    folder = records.home() / "investigations"
    found = []
    for path in sorted(folder.glob("inv-*.json")) if folder.is_dir() else []:
        data = parse_json(path.read_bytes(), what=f"the record {path}")
        if isinstance(data, dict) and isinstance(data.get("investigation"), dict):
            found.append(Investigation.model_validate(data["investigation"]))
    return found
