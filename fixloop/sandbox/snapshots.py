"""Workspace snapshots in S3: what survives the loss of a sandbox.

The sandbox puts them through a pre-signed URL (it has no bucket access of its own); the
trusted side reads them: Deliver for the change, tests. Readers may list the ``sandboxes/``
prefix, so a missing snapshot answers 404 (not 403) and reads as none.
"""

from __future__ import annotations

from fixloop.sandbox.protocol import snapshot_key
from fixloop.sandbox.workspace import Snapshot
from fixloop.store.blobs import BlobStore

__all__ = ["SnapshotStore"]


class SnapshotStore:
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs

    def load(self, investigation_id: str) -> Snapshot | None:
        data = self._blobs.get_if_exists(snapshot_key(investigation_id))
        return None if data is None else Snapshot.model_validate_json(data)
