"""The transitions outbox: recorded case transitions produced to Kafka exactly once, in order per case."""

import json
from typing import Any

from kafka import TopicPartition
from sqlalchemy import Connection, Engine, text

from db.partitions import case_report
from streams.kafka import consumer
from streams.producer import EventProducer, Message
from streams.settings import KafkaSettings
from streams.topics import Topics

OUTBOX_LOCK = 7_301_002


def transition_message(row: Any) -> dict[str, Any]:
    """What a transition looks like on the transitions and escalations topics."""
    return {
        "transition_id": row.id,
        "case_id": str(row.case_id),
        "seq": row.seq,
        "action": row.action,
        "actor": row.actor,
        "note": row.note,
        "at": row.at.isoformat(),
        "from_state": row.from_state,
        "to_state": row.to_state,
        "from_level": row.from_level,
        "to_level": row.to_level,
        "deadline": row.deadline.isoformat() if row.deadline else None,
        "grid": row.grid_code,
        "category": row.category,
        "department": getattr(row, "department", None),  # the unit the case was sent to, if any
        "assignee": getattr(row, "assignee", None),  # the person who holds it, if any: their app is told
        "lat": getattr(row, "lat", None),
        "lon": getattr(row, "lon", None),
    }


class Outbox:
    """Produces recorded transitions to Kafka exactly once, in order per case.

    One publisher at a time holds a PostgreSQL advisory lock. Rows are produced in id
    order and flagged after the broker acknowledged them; a new leader first reads
    the tail of each topic and flags what a previous leader produced but could not
    flag before it stopped, so nothing is produced twice.
    """

    def __init__(self, engine: Engine, settings: KafkaSettings, producer: EventProducer, batch: int = 500) -> None:
        self.engine = engine
        self.settings = settings
        self.topics = Topics.from_prefix(settings.topic_prefix)
        self.producer = producer
        self.batch = batch
        self._leader: Connection | None = None

    def _lead(self) -> bool:
        if self._leader is not None:
            return True
        conn = self.engine.connect()
        if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": OUTBOX_LOCK}).scalar_one():
            conn.rollback()
            conn.close()
            return False
        conn.commit()
        self._leader = conn
        self._recover()
        return True

    def _tail_ids(self, topic: str) -> list[int]:
        reader = consumer(self.settings, None, client_id="gridgov-outbox-recovery")  # type: ignore[arg-type]
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or [])]
            reader.assign(partitions)
            ends = reader.end_offsets(partitions)
            ids: list[int] = []
            for tp in partitions:
                reader.seek(tp, max(0, ends[tp] - 2 * self.batch))
            while any(reader.position(tp) < ends[tp] for tp in partitions):
                for records in reader.poll(timeout_ms=500).values():
                    ids += [json.loads(r.value)["transition_id"] for r in records]
            return ids
        finally:
            reader.close()

    def _recover(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text("UPDATE case_transition SET published = true WHERE id = ANY(:ids) AND NOT published"),
                {"ids": self._tail_ids(self.topics.transitions)},
            )
            conn.execute(
                text(
                    "UPDATE case_transition SET escalation_published = true WHERE id = ANY(:ids)"
                    " AND NOT escalation_published"
                ),
                {"ids": self._tail_ids(self.topics.escalations)},
            )

    def publish(self) -> int:
        """Produce the next rows if this process leads; return how many."""
        if not self._lead():
            return 0
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT t.*, c.grid_code, c.category, c.department, c.assignee, ST_Y(e.geom) AS lat,"
                    " ST_X(e.geom) AS lon"
                    f' FROM case_transition t JOIN "case" c ON c.id = t.case_id {case_report()}'
                    " WHERE NOT t.published OR NOT t.escalation_published ORDER BY t.id LIMIT :n"
                ),
                {"n": self.batch},
            ).all()
        if not rows:
            return 0
        records = []
        for row in rows:
            value = json.dumps(transition_message(row), ensure_ascii=False).encode()
            if not row.published:
                records.append(Message(self.topics.transitions, str(row.case_id).encode(), value))
            if row.escalation_published is False:
                records.append(Message(self.topics.escalations, str(row.case_id).encode(), value))
        self.producer.publish(records)
        ids = [row.id for row in rows]
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE case_transition SET published = true,"
                    " escalation_published = CASE WHEN escalation_published IS NULL THEN NULL ELSE true END"
                    " WHERE id = ANY(:ids)"
                ),
                {"ids": ids},
            )
        return len(rows)

    def close(self) -> None:
        """Give up leadership."""
        if self._leader is not None:
            self._leader.invalidate()  # close the session itself, not back to the pool: the lock goes with it
            self._leader.close()
            self._leader = None
