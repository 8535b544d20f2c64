"""``POST /v1/events`` and ``/v1/events/batch``: accepted (202) only once the broker has them."""

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from api.deps import EngineDep, ProducerDep, SettingsDep
from api.errors import Conflict, PayloadTooLarge, invalid
from streams.categories import default_categories
from streams.producer import EventProducer, Record
from streams.schema import Batch, Event, Received, example_event
from streams.topics import Topics

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["events"])
ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"description": "An id was already sent with different content"},
    413: {"description": "Body or batch over its limit"},
    422: {"description": "Invalid fields, each named with what is wrong"},
    503: {"description": "Broker unreachable: nothing was accepted, retry after Retry-After seconds"},
}


class Accepted(BaseModel):
    """The events the broker now holds."""

    accepted: list[UUID]
    received_at: datetime


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _claim(engine: Engine, received: list[Received]) -> list[str]:
    """Record each id's content hash; return the ids already held with other content.

    One round trip: the insert claims new ids, the select (which sees the table as
    it was before the statement) returns what earlier requests stored. A claim whose
    produce then fails stays, so a retry must carry the same content. While the
    database is away the check is skipped and the worker catches conflicts.
    """
    hashes = {str(r.event.id): r.content_hash for r in received}
    try:
        with engine.begin() as conn:
            # A receipt is a hint (the worker checks content too): it need not wait for the disk.
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO off")
            rows = conn.execute(
                text(
                    "WITH claimed AS (INSERT INTO event_receipt (id, content_hash)"
                    " SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:hashes AS text[]))"
                    " ON CONFLICT (id) DO NOTHING)"
                    " SELECT id::text, content_hash FROM event_receipt WHERE id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"ids": list(hashes), "hashes": list(hashes.values())},
            ).all()
    except DBAPIError:
        log.warning("receipt check skipped: database unavailable; the worker will catch conflicts")
        return []
    return sorted(id_ for id_, digest in rows if hashes[id_] != digest)


def _accept(engine: Engine, producer: EventProducer, topics: Topics, events: list[Event]) -> Accepted:
    unique: dict[str, Event] = {}
    for event in events:
        seen = unique.setdefault(str(event.id), event)
        if seen != event:
            raise Conflict(f"event {event.id} appears twice in the batch with different content", [str(event.id)])
    now = datetime.now(UTC)
    received = [Received.stamp(e, now) for e in unique.values()]  # hashes each event once
    conflicts = _claim(engine, received)
    if conflicts:
        raise Conflict(f"{len(conflicts)} event id(s) were already sent with different content", conflicts)
    producer.publish([Record(topics.raw, r.event.reporter.encode(), r.to_bytes()) for r in received])
    return Accepted(accepted=[r.event.id for r in received], received_at=now)


def _schema(model: type[BaseModel], example: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": model.model_json_schema(ref_template="#/components/schemas/{model}"),
                    "example": example,
                }
            },
        }
    }


@router.post(
    "/events", status_code=202, response_model=Accepted, responses=ERRORS, openapi_extra=_schema(Event, example_event())
)
async def post_event(request: Request, engine: EngineDep, producer: ProducerDep, settings: SettingsDep) -> Accepted:
    """Accept one event. Retrying with the same id and content is safe.

    Limits: body 32 KiB (`GRIDGOV_MAX_EVENT_BYTES`), description 2,000 characters,
    10 attachments; occurred_at at most 5 minutes ahead and 30 days back.
    """
    body = await _body(request, settings.api.max_event_bytes)
    try:
        event = Event.model_validate_json(body, context={"now": datetime.now(UTC)})
    except ValidationError as exc:
        raise invalid(exc) from exc
    topics = Topics.from_prefix(settings.kafka.topic_prefix)
    return await run_in_threadpool(_accept, engine, producer, topics, [event])


@router.post(
    "/events/batch",
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    openapi_extra=_schema(Batch, {"events": [example_event()]}),
)
async def post_batch(request: Request, engine: EngineDep, producer: ProducerDep, settings: SettingsDep) -> Accepted:
    """Accept up to 500 events saved offline, all or none.

    Limits: body 4 MiB (`GRIDGOV_MAX_BATCH_BYTES`), 500 events; each event as for
    `POST /v1/events`. An invalid event rejects the batch with 422 naming
    `events.N.field`.
    """
    body = await _body(request, settings.api.max_batch_bytes)
    try:
        batch = Batch.model_validate_json(body, context={"now": datetime.now(UTC)})
    except ValidationError as exc:
        if any(e["type"] == "too_long" and e["loc"] == ("events",) for e in exc.errors()):
            raise PayloadTooLarge("a batch holds at most 500 events; send the rest in another batch") from exc
        raise invalid(exc) from exc
    topics = Topics.from_prefix(settings.kafka.topic_prefix)
    return await run_in_threadpool(_accept, engine, producer, topics, list(batch.events))


@router.get("/categories", tags=["events"])
def list_categories() -> list[dict[str, str]]:
    """The category codes an event may carry, with names and SLA class."""
    return [
        {
            "code": c.code,
            "name": c.name,
            "name_en": c.name_en,
            "group": c.group,
            "group_name": c.group_name,
            "sla_class": c.sla_class.value,
        }
        for c in default_categories().values()
    ]
