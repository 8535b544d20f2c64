"""The SLA clock and case transitions on PostGIS, and the outbox that produces them to Kafka."""

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import TopicPartition
from sqlalchemy import Connection, Engine, text

from streams.cases import Action, Case, State, apply, breached
from streams.kafka import consumer
from streams.producer import EventProducer, Record
from streams.rules import Level, Rules
from streams.settings import KafkaSettings
from streams.topics import Topics

log = logging.getLogger(__name__)
OUTBOX_LOCK = 7_301_002
ESCALATIONS = {Action.ESCALATE.value, Action.AUTO_ESCALATE.value, "overdue"}
_CASE = (
    "SELECT id, kind, category, state, level, deadline, paused_at, pause_kind, reworks, overdue, opened_at, assignee"
    ' FROM "case"'
)


class CaseNotFound(LookupError):
    """No case with that id."""


def _case(row: Any) -> Case:
    return Case(
        row.category,
        State(row.state),
        Level(row.level),
        row.deadline,
        row.paused_at,
        row.pause_kind,
        row.reworks,
        row.overdue,
    )


def _record(
    conn: Connection,
    case_id: uuid.UUID,
    before: Case,
    after: Case,
    action: str,
    actor: str,
    note: str,
    at: datetime,
    rules: Rules,
) -> None:
    """Store the transition and the case after it (the caller holds the case row lock)."""
    escalation = action in ESCALATIONS
    conn.execute(
        text(
            "INSERT INTO case_transition (case_id, seq, action, actor, note, at, from_state, to_state, from_level,"
            " to_level, deadline, escalation_published)"
            " SELECT :id, coalesce(max(seq), 0) + 1, :action, :actor, :note, :at, :fs, :ts, :fl, :tl, :deadline, :esc"
            " FROM case_transition WHERE case_id = :id"
        ),
        {
            "id": case_id,
            "action": action,
            "actor": actor,
            "note": note,
            "at": at,
            "fs": before.state.value,
            "ts": after.state.value,
            "fl": before.level.value,
            "tl": after.level.value,
            "deadline": after.deadline,
            "esc": False if escalation else None,
        },
    )
    closing = after.state is State.CLOSED and before.state is not State.CLOSED
    conn.execute(
        text(
            'UPDATE "case" SET state = :state, level = :level, deadline = :deadline, paused_at = :paused_at,'
            " pause_kind = :pause_kind, reworks = :reworks, overdue = :overdue, version = version + 1,"
            " escalations = escalations + :escalated, deferred = deferred OR :paused,"
            " department = CASE WHEN :is_department THEN :department ELSE department END,"
            " closed_at = CASE WHEN :closing THEN :at ELSE closed_at END,"
            " closed_on_time = CASE WHEN :closing THEN :on_time AND NOT EXISTS (SELECT 1 FROM case_transition b"
            " WHERE b.case_id = :id AND b.action = 'auto_escalate') ELSE closed_on_time END"
            " WHERE id = :id"
        ),
        {
            "id": case_id,
            "state": after.state.value,
            "level": after.level.value,
            "deadline": after.deadline,
            "paused_at": after.paused_at,
            "pause_kind": after.pause_kind,
            "reworks": after.reworks,
            "overdue": after.overdue,
            "escalated": int(action in (Action.ESCALATE.value, Action.AUTO_ESCALATE.value)),
            "paused": after.paused_at is not None,
            "department": rules.department(after.category),
            "is_department": after.level is Level.DEPARTMENT,
            "closing": closing,
            "at": at,
            "on_time": closing and not before.overdue and (before.deadline is None or at <= before.deadline),
        },
    )


def transition(
    engine: Engine,
    case_id: uuid.UUID,
    action: Action,
    actor: str,
    note: str,
    now: datetime,
    rules: Rules,
    *,
    assignee: str | None = None,
    check: Callable[[Connection, Any], None] | None = None,
) -> None:
    """Apply a person's action to a case; raises CaseNotFound, NotAllowed or ReasonRequired.

    ``assignee`` is who a dispatch hands the case to (a decline clears it); ``check`` sees the
    locked case row before anything changes and may raise to refuse.
    """
    with engine.begin() as conn:
        row = conn.execute(text(_CASE + " WHERE id = :id FOR UPDATE"), {"id": case_id}).one_or_none()
        if row is None:
            raise CaseNotFound(str(case_id))
        if check is not None:
            check(conn, row)
        before = _case(row)
        if before.deadline is None and before.state is not State.CLOSED:  # the clock has not seen it yet
            before = replace(before, deadline=rules.deadline(before.category, Level.GRID, row.opened_at))
        after = apply(before, action, now, rules, note)
        _record(conn, row.id, before, after, action.value, actor, note, now, rules)
        if action in (Action.DISPATCH, Action.DECLINE):
            conn.execute(
                text('UPDATE "case" SET assignee = :a WHERE id = :id'),
                {"a": assignee if action is Action.DISPATCH else None, "id": case_id},
            )


def start_clocks(engine: Engine, rules: Rules, limit: int = 1000) -> int:
    """Give new cases their grid-level deadline, counted from when they were received; oldest first."""
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                'SELECT id, category, opened_at FROM "case" WHERE deadline IS NULL AND closed_at IS NULL'
                " ORDER BY opened_at LIMIT :limit FOR UPDATE SKIP LOCKED"
            ),
            {"limit": limit},
        ).all()
        for row in rows:
            conn.execute(
                text('UPDATE "case" SET deadline = :d WHERE id = :id'),
                {"d": rules.deadline(row.category, Level.GRID, row.opened_at), "id": row.id},
            )
    return len(rows)


def escalate_breaches(engine: Engine, rules: Rules, now: datetime, limit: int = 200) -> int:
    """Escalate every open case past its deadline, one level per missed deadline, each recorded once.

    Rows are locked with SKIP LOCKED, so engines running side by side never take the
    same case; a unique index on (case, level reached) backs that up.
    """
    moved = 0
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                _CASE + " WHERE closed_at IS NULL AND paused_at IS NULL AND NOT overdue AND deadline <= :now"
                " ORDER BY deadline LIMIT :limit FOR UPDATE SKIP LOCKED"
            ),
            {"now": now, "limit": limit},
        ).all()
        for row in rows:
            case = _case(row)
            while breached(case, now):
                after = apply(case, Action.AUTO_ESCALATE, now, rules)
                action = Action.AUTO_ESCALATE.value if after.level is not case.level else "overdue"
                assert case.deadline is not None
                _record(
                    conn,
                    row.id,
                    case,
                    after,
                    action,
                    "sla-clock",
                    f"deadline {case.deadline.isoformat()} passed",
                    case.deadline,
                    rules,
                )
                case = after
                moved += 1
    return moved


def flag_patrols(engine: Engine, rules: Rules, now: datetime) -> int:
    """Flag grids with no patrol check-in before the cut-off, for today (once past it) and yesterday."""
    tz = rules.calendar.tz
    local = now.astimezone(tz)
    days = [local.date() - timedelta(days=1)]
    if local.time() >= rules.patrol_cutoff:
        days.append(local.date())
    flagged = 0
    with engine.begin() as conn:
        for day in days:
            start = datetime.combine(day, datetime.min.time(), tz)
            cutoff = datetime.combine(day, rules.patrol_cutoff, tz)
            flagged += conn.execute(
                text(
                    "INSERT INTO patrol_breach (grid_code, day, flagged_at)"
                    " SELECT a.code, :day, :now FROM area a JOIN boundary_generation g ON g.id = a.generation_id"
                    " AND g.active WHERE a.level = 'grid' AND NOT EXISTS (SELECT 1 FROM event e"
                    " WHERE e.kind = 'patrol' AND e.grid_code = a.code AND e.occurred_at >= :start"
                    " AND e.occurred_at < :cutoff) ON CONFLICT DO NOTHING"
                ),
                {"day": day, "now": now, "start": start, "cutoff": cutoff},
            ).rowcount
    return flagged


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
                    "SELECT t.*, c.grid_code, c.category, ST_Y(e.geom) AS lat, ST_X(e.geom) AS lon"
                    ' FROM case_transition t JOIN "case" c ON c.id = t.case_id JOIN event e ON e.id = c.id'
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
                records.append(Record(self.topics.transitions, str(row.case_id).encode(), value))
            if row.escalation_published is False:
                records.append(Record(self.topics.escalations, str(row.case_id).encode(), value))
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


@dataclass
class SlaEngine:
    """One tick: start clocks, escalate breaches, flag patrols, publish the outbox."""

    engine: Engine
    rules: Rules
    outbox: Outbox
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def tick(self) -> dict[str, int]:
        """Run every step once at the clock's now."""
        now = self.clock()
        return {
            "started": start_clocks(self.engine, self.rules),
            "escalated": escalate_breaches(self.engine, self.rules, now),
            "patrol_flags": flag_patrols(self.engine, self.rules, now),
            "published": self.outbox.publish(),
        }

    def run(self, stop: threading.Event, every_s: float) -> None:
        """Tick until ``stop``; errors are logged and the next tick tries again."""
        try:
            while not stop.is_set():
                try:
                    done = self.tick()
                    if any(done.values()):
                        log.info("sla tick: %s", done)
                except Exception:  # the clock must keep ticking through outages
                    log.exception("sla tick failed")
                    self.outbox.close()
                stop.wait(every_s)
        finally:
            self.outbox.close()
