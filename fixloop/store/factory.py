"""Build the stores once per process from settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from fixloop import aws
from fixloop.config import get_settings
from fixloop.store.blobs import BlobStore
from fixloop.store.events import EventLog
from fixloop.store.fingerprints import FingerprintStore
from fixloop.store.inbox import InboxStore
from fixloop.store.investigations import InvestigationStore
from fixloop.store.sandboxes import SandboxStore
from fixloop.store.waits import WaitStore


@dataclass(frozen=True)
class Stores:
    events: EventLog
    investigations: InvestigationStore
    blobs: BlobStore
    sandboxes: SandboxStore
    fingerprints: FingerprintStore
    inbox: InboxStore
    waits: WaitStore


@lru_cache(maxsize=1)
def stores() -> Stores:
    settings = get_settings()
    ddb = aws.resource("dynamodb")
    blobs = BlobStore(aws.client("s3"), settings.blobs_bucket)
    return Stores(
        events=EventLog(ddb.Table(settings.events_table), blobs),
        investigations=InvestigationStore(ddb.Table(settings.investigations_table)),
        blobs=blobs,
        sandboxes=SandboxStore(ddb.Table(settings.sandboxes_table)),
        fingerprints=FingerprintStore(ddb.Table(settings.fingerprints_table)),
        inbox=InboxStore(ddb.Table(settings.inbox_table)),
        waits=WaitStore(ddb.Table(settings.waits_table)),
    )
