"""Data access: the event log, investigation records, blobs (built by :func:`stores`)."""

from fixloop.errors import EventNotFound, InvestigationNotFound, StorageThrottled
from fixloop.store.blobs import BlobStore
from fixloop.store.events import EventLog, StoredEvent
from fixloop.store.factory import Stores, stores
from fixloop.store.investigations import InvestigationStore

__all__ = [
    "BlobStore",
    "EventLog",
    "EventNotFound",
    "InvestigationNotFound",
    "InvestigationStore",
    "StorageThrottled",
    "StoredEvent",
    "Stores",
    "stores",
]
