"""Events-table stream consumer: applies each stored event (partial batch failures; records
that keep failing go to the failures queue through the event source mapping's on-failure
destination), and publishes what was written into histories to be published (services/outbox)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.adapters.bus import EventBridgePublisher
from nudgeloop.dal import event_log
from nudgeloop.domain.events import Event
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import campaign_store, outbox, process
from nudgeloop.services.segmenting import Rules

settings = boot()
stairs = settings.stairs()
publisher = EventBridgePublisher(settings.bus_name)
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
current: dict[str, Any] = {"rules": Rules(stairs), "customers": process.Prefetched(), "events": {}}
outcomes = {"EventsApplied": 0, "EventsUnchanged": 0, "EventsFailed": 0}  # per invocation: one metric each, not one per record


def _events(records: list[dict[str, Any]]) -> dict[int, Event]:
    """The batch's events by their record (the record's identity: this invocation's event holds
    every record), each read from its image once."""
    events: dict[int, Event] = {}
    for raw in records:
        try:
            record = DynamoDBRecord(raw)
            if record.dynamodb is not None and record.dynamodb.new_image is not None:
                events[id(raw)] = event_log.event_from_image(record.dynamodb.new_image)
        except Exception:  # noqa: S112 - a malformed record fails on its own, in record_handler
            continue
    return events


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    if record.dynamodb is None or record.dynamodb.new_image is None:
        return
    event = current["events"].get(id(record.raw_event)) or event_log.event_from_image(record.dynamodb.new_image)
    try:
        changed = process.apply(event, publisher, current["rules"], current["customers"])
    except Exception:  # logged with its exception and counted; the record is retried, then kept
        outcomes["EventsFailed"] += 1
        logger.exception("event not applied", extra={"event_id": event.event_id, "event_type": event.type})
        raise
    outcomes["EventsApplied" if changed else "EventsUnchanged"] += 1


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # The date occasions campaigns watch decide each customer's next review, and the behaviour
    # they start on is all that is published (one List of the campaigns bucket per batch).
    campaigns = campaign_store.active(settings.campaigns_bucket)
    current["rules"] = Rules(stairs, campaign_store.date_rules(campaigns), campaign_store.behaviour_triggers(campaigns))
    outcomes.update(dict.fromkeys(outcomes, 0))
    # the batch's customers in one BatchGetItem (per 100), not one GetItem per event
    current["events"] = _events(event.get("Records", []))
    try:
        # the history entries written to be published (migrations, points granted): published
        # before anything else of the batch is applied; a failure fails the batch, which the
        # stream delivers again
        outbox.publish(list(current["events"].values()), publisher)
        current["customers"] = process.Prefetched.read(list(current["events"].values()))
        return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    finally:
        current["events"] = {}  # the records' identities end with this invocation's event
        for name, count in outcomes.items():
            if count:
                metrics.add_metric(name=name, unit="Count", value=count)
