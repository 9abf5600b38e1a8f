"""Workspace snapshots in S3: what survives the loss of a sandbox."""

from __future__ import annotations

from fixloop.sandbox.workspace import Snapshot
from fixloop.store.blobs import BlobStore
from fixloop.store.sandboxes import SandboxStore


def snapshot_key(investigation_id: str) -> str:
    return f"sandboxes/{investigation_id}/workspace.json"


class SnapshotStore:
    def __init__(self, blobs: BlobStore, sandboxes: SandboxStore) -> None:
        self._blobs = blobs
        self._sandboxes = sandboxes

    def save(self, investigation_id: str, snapshot: Snapshot) -> None:
        self._blobs.put(snapshot_key(investigation_id), snapshot.model_dump_json().encode())
        self._sandboxes.mark_snapshot(investigation_id)

    def load(self, investigation_id: str) -> Snapshot | None:
        record = self._sandboxes.get(investigation_id)
        if record is None or not record.has_snapshot:
            return None
        return Snapshot.model_validate_json(self._blobs.get(snapshot_key(investigation_id)))
