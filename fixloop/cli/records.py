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
from fixloop.errors import NotFoundError
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
    path = home() / "investigations" / f"{investigation_id}.json"
    if not path.is_file():
        raise NotFoundError(f"no record of investigation {investigation_id} in {path.parent}")
    data: dict[str, Any] = json.loads(path.read_text())
    return data
