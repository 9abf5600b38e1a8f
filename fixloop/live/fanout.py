"""Fan-out: each new log event, from the Events table's stream, to its subscribers.

Runs as the Lambda on the stream (in AWS through an event source mapping with
``ReportBatchItemFailures``; on the embedded runtime through the local stream pump). Each
record is processed on its own (Powertools ``BatchProcessor``): a record that fails (the
Management API throttled, an unreadable image) is reported in ``batchItemFailures`` and
retried from there, while the rest of the batch is done. A retried record may reach some
connections twice; clients drop positions they have seen. A connection that answers
``GoneException`` is forgotten.

An event that changes what an investigation's summary or list row shows (:data:`NEWS`: its
start, a turn, its status, its outcome) is followed by the investigation's summary to its
subscribers and its row to the subscribers of the list, read from the record with the event
laid over it (the record may not hold the event's news yet).
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

from fixloop.live.gateway import Gateway, gateway
from fixloop.live.messages import event_messages, investigation_message
from fixloop.live.views import investigation_row, investigation_view
from fixloop.live.websocket import connections
from fixloop.store import InvestigationNotFound, StoredEvent, stores

__all__ = ["NEWS", "fan_out", "post_record"]

NEWS = frozenset(
    {
        "signal",
        "assistant_message",
        "compaction_summary",
        "status_changed",
        "delivered",
        "failed",
        "verification",
    }
)
"""Event types after which the summary and the list row are posted again."""

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
    news = stored.event.type in NEWS
    if not subscribers and not news:
        return 0
    gw = gateway()
    messages = event_messages(stored)
    reached = _post(gw, subscribers, messages)
    posts = len(reached) * len(messages)
    if news:
        posts += _post_news(gw, stored, reached)
    if posts:
        # Counted for the investigation's cost; a retried record counts its posts again.
        stores().investigations.count_websocket_messages(stored.investigation_id, posts)
    return len(reached)


def _post(gw: Gateway, connection_ids: list[str], messages: list[str]) -> list[str]:
    """Post ``messages`` to each connection, forget the gone ones; those that got them."""
    reached = []
    for connection_id in connection_ids:
        if gw.post_all(connection_id, messages):
            reached.append(connection_id)
        else:
            logger.info("connection gone", extra={"connection_id": connection_id})
            connections().disconnect(connection_id)
    return reached


def _post_news(gw: Gateway, stored: StoredEvent, subscribers: list[str]) -> int:
    """The investigation's summary to its subscribers, its row to the list's; messages sent."""
    listeners = connections().list_subscribers()
    if not subscribers and not listeners:
        return 0
    try:
        inv = stores().investigations.get(stored.investigation_id)
    except InvestigationNotFound:
        return 0  # an event of no investigation (nothing to summarise)
    summary = investigation_view(inv, stored.event)
    sent = _post(gw, subscribers, [investigation_message(summary)])
    row = {k: summary[k] for k in investigation_row(inv)}
    return len(sent) + len(_post(gw, listeners, [investigation_message(row)]))


def fan_out(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The stream handler's whole job, with partial batch failures."""
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    response = process_partial_response(
        event=event, record_handler=post_record, processor=processor, context=context
    )
    return dict(response)
