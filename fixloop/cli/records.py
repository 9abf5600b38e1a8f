"""What the CLI keeps of an investigation after its run, for ``fixloop show``.

The embedded runtime's AWS lives in memory and ends with the command, so the CLI writes the
investigation (its summary and its whole event log) to ``$FIXLOOP_HOME/investigations/``
(default ``~/.fixloop``) when the run ends.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fixloop.domain import EVENT_ADAPTER
from fixloop.domain.investigation import is_investigation_id
from fixloop.domain.payloads import parse_json
from fixloop.errors import BadInputError, NotFoundError
from fixloop.store import StoredEvent


def home() -> Path:
    return Path(os.environ.get("FIXLOOP_HOME") or Path.home() / ".fixloop")


def save(summary: dict[str, Any], investigation: dict[str, Any], events: list[StoredEvent]) -> Path:
    folder = home() / "investigations"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{summary['investigation_id']}.json"
    record = {
        "summary": summary,
        "investigation": investigation,
        "events": [
            {"position": e.position, "event": EVENT_ADAPTER.dump_python(e.event, mode="json")}
            for e in events
        ],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)
    return path


def load(investigation_id: str) -> dict[str, Any]:
    """The record of ``investigation_id``. Only an id of the shape fixloop makes is looked
    up, so no argument can name a file outside the records' folder (``../../x``)."""
    if not is_investigation_id(investigation_id):
        shown = investigation_id[:80].encode("unicode_escape").decode("ascii")
        raise BadInputError(
            f"{shown!r} is not an investigation id (they look like inv-20261122093000-1a2b3c4d)"
        )
    path = home() / "investigations" / f"{investigation_id}.json"
    if not path.is_file():
        raise NotFoundError(f"no record of investigation {investigation_id} in {path.parent}")
    data = parse_json(path.read_bytes(), what=f"the record {path}")
    if not isinstance(data, dict):
        raise BadInputError(f"the record {path} is not a record of fixloop's")
    return data
