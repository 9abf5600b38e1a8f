"""Storage errors as domain exceptions; callers never see botocore's."""

from __future__ import annotations

from fixloop.errors import NotFoundError, TransientError


class InvestigationNotFound(NotFoundError):
    def __init__(self, investigation_id: str) -> None:
        super().__init__(f"no investigation {investigation_id}")
        self.investigation_id = investigation_id


class EventNotFound(NotFoundError):
    def __init__(self, investigation_id: str, position: str) -> None:
        super().__init__(f"investigation {investigation_id} has no event at {position}")


class StorageThrottled(TransientError):
    """DynamoDB or S3 throttled after the SDK's retries."""
