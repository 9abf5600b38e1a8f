"""Fan-out: each new log event, from the Events table's stream, to its subscribers.

Runs as the Lambda on the stream (in AWS through an event source mapping with
``ReportBatchItemFailures``; on the embedded runtime through the local stream pump). Each
record is processed on its own (Powertools ``BatchProcessor``): a record that fails (the
Management API throttled, an unreadable image) is reported in ``batchItemFailures`` and
retried from there, while the rest of the batch is done. A retried record may reach some
connections twice; clients drop positions they have seen. A connection that answers
``GoneException`` is forgotten.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
)

from fixloop.live.gateway import gateway
from fixloop.live.messages import event_messages
from fixloop.live.websocket import connections
from fixloop.store import stores

__all__ = ["fan_out", "post_record"]

logger = Logger(child=True)


def post_record(record: DynamoDBRecord) -> int:
    """Post one inserted event to every subscriber; returns how many received it."""
    if record.event_name is None or record.event_name.name != "INSERT":
        return 0  # the log is append-only: nothing else is news
    image = record.dynamodb.new_image if record.dynamodb else None
    if not image:
        raise ValueError("stream record without a new image (the stream must be NEW_IMAGE)")
    stored = stores().events.decode_item(image)
    subscribers = connections().subscribers(stored.investigation_id)
    if not subscribers:
        return 0
    messages = event_messages(stored)
    gw = gateway()
    reached = 0
    for connection_id in subscribers:
        if gw.post_all(connection_id, messages):
            reached += 1
        else:
            logger.info("connection gone", extra={"connection_id": connection_id})
            connections().disconnect(connection_id)
    if reached:
        # Counted for the investigation's cost; a retried record counts its posts again.
        stores().investigations.count_websocket_messages(
            stored.investigation_id, reached * len(messages)
        )
    return reached


def fan_out(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The stream handler's whole job, with partial batch failures."""
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    response = process_partial_response(
        event=event, record_handler=post_record, processor=processor, context=context
    )
    return dict(response)
