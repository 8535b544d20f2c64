"""Every table of the platform, declared once; queries build on these, migrations create them.

``tests/test_schema.py`` compares these declarations with the migrated database, so a
column added in a migration and not here (or the reverse) fails the suite.
"""

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

# Where a case lies (its grid, else the most precise area that holds it), and the order `GET /v1/cases`
# lists cases in: both indexed below, and cases.places and cases.reads write them over ``"case" c``.
CASE_PLACE = "coalesce(grid_code, community_code, street_code, district_code)"
CASE_LIST_ORDER = "(closed_at IS NOT NULL), coalesce(deadline, 'infinity'::timestamptz), id"
ENDED_STATES = "('closed', 'refused', 'voided', 'merged')"  # where a case's last transition leaves it

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


def at_column(name: str, **kwargs: object) -> Column[object]:
    """A moment column (with its zone)."""
    return Column(name, DateTime(timezone=True), **kwargs)  # type: ignore[arg-type]


def now_column(name: str) -> Column[object]:
    """A time column the server fills with now() on insert."""
    return at_column(name, server_default=func.now(), nullable=False)


def _codes() -> list[Column[object]]:
    """Grid, community, street and district codes of where something happened."""
    return [
        Column("grid_code", String(15)),
        Column("community_code", String(12)),
        Column("street_code", String(9)),
        Column("district_code", String(6)),
        Column("special_code", String(17)),  # the special grid (专属网格) it lies in, if any
    ]


boundary_generation = Table(
    "boundary_generation",
    metadata,
    Column("id", Integer, primary_key=True),
    now_column("created_at"),
    Column("source", Text, nullable=False),
    Column("active", Boolean, server_default=text("false"), nullable=False),
    # Each layer's own statement, "complete" or "partial", carried into later generations (migration 0015).
    Column("coverage", JSONB, server_default=text("'{}'::jsonb"), nullable=False),
    Index("uq_boundary_generation_one_active", "active", unique=True, postgresql_where=text("active")),
)

area = Table(
    "area",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation_id", Integer, ForeignKey("boundary_generation.id", ondelete="CASCADE"), nullable=False),
    Column("code", String(15), nullable=False),
    Column("level", String(10), nullable=False),
    Column("name", Text, nullable=False),
    Column("name_en", Text),
    Column("parent_code", String(15)),
    Column("households", Integer),
    Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
    UniqueConstraint("generation_id", "code"),
    CheckConstraint("level IN ('district', 'street', 'community', 'grid')", name="level"),
    Index("ix_area_geom", "geom", postgresql_using="gist"),
    Index("ix_area_generation_parent", "generation_id", "parent_code"),
    Index("ix_area_generation_level", "generation_id", "level"),
)

# Party grids (党建网格) and special grids (专属网格) of a generation, each spanning management grids.
overlay_area = Table(
    "overlay_area",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation_id", Integer, ForeignKey("boundary_generation.id", ondelete="CASCADE"), nullable=False),
    Column("code", String(17), nullable=False),  # DJ or ZS, then a grid-style code under its community
    Column("layer", String(10), nullable=False),
    Column("kind", String(16)),  # a special grid's: park, market, business, campus, office
    Column("name", Text, nullable=False),
    Column("name_en", Text),
    Column("owner", Text),  # the unit that runs a special grid (a park's management, a market's operator)
    Column("spans", ARRAY(String(15)), nullable=False),  # the management grids it lies in
    Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
    UniqueConstraint("generation_id", "code"),
    CheckConstraint("layer IN ('party', 'special')", name="layer"),
    Index("ix_overlay_area_geom", "geom", postgresql_using="gist"),
    Index("ix_overlay_area_generation_id_layer", "generation_id", "layer"),
)

# The areas of the active boundary generation: a view (migration 0008), the one place that join is written.
active_area = Table("active_area", MetaData(), *(Column(c.name, c.type) for c in area.columns))

# Partitioned by the month it happened in (migration 0033; db.partitions): every copy of an event carries its
# occurred_at, so a copy meets its first row under (id, occurred_at). An id is held once by event_key.
event = Table(
    "event",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("category", String(8), nullable=False),
    Column("condition", String(2)),  # the filing condition (立案条件) named by the report
    Column("component", String(16)),  # the component (部件) the report is about: its identifier
    at_column("occurred_at", nullable=False, primary_key=True),
    at_column("received_at", nullable=False),
    now_column("recorded_at"),
    Column("reporter", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("attachments", JSONB, nullable=False),
    Column("household", Text),
    Column("crs", String(10), nullable=False),
    Column("lon_reported", Float, nullable=False),
    Column("lat_reported", Float, nullable=False),
    Column("accuracy_m", Float),
    Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    *_codes(),
    Column("locate_method", String(10), nullable=False),
    Column("generation_id", Integer),
    Column("content_hash", String(64), nullable=False),
    Column("source_partition", Integer),
    Column("source_offset", BigInteger),
    at_column("window_start"),
    at_column("window_end"),
    Index("ix_event_geom", "geom", postgresql_using="gist"),
    Index("ix_event_grid_occurred", "grid_code", "occurred_at"),
    Index("ix_event_kind_occurred", "kind", "occurred_at"),
    Index("ix_event_patrol_day", "grid_code", "occurred_at", postgresql_where=text("kind = 'patrol'")),
    Index("ix_event_visit_household", "household", "occurred_at", postgresql_where=text("kind = 'visit'")),
    # Finding a case (cases.search): its report's words and who made it.
    Index(
        "ix_event_case_description",
        "description",
        postgresql_using="gin",
        postgresql_ops={"description": "gin_trgm_ops"},
        postgresql_where=text("kind IN ('incident', 'request')"),
    ),
    Index("ix_event_case_reporter", "reporter", postgresql_where=text("kind IN ('incident', 'request')")),
)

# A case's id is its event's id (no foreign key: migration 0007 says why).
case = Table(
    "case",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("category", String(8), nullable=False),
    Column("condition", String(2)),  # the filing condition its limits come from (None: the category's own)
    Column("component", String(16)),  # the component it is about (its owner is whom it is dispatched to)
    Column("unit", Text),  # the unit it goes to (分拨, cases.routing): who holds it at department level
    Column("sla_class", String(10), nullable=False),
    Column("state", String(16), nullable=False),
    Column("level", String(16), nullable=False),
    *_codes(),
    at_column("opened_at", nullable=False),
    at_column("event_occurred_at", nullable=False),  # its report's moment: with its id, the report's key in event
    at_column("deadline"),
    at_column("closed_at"),
    Column("version", Integer, server_default="0", nullable=False),
    at_column("paused_at"),
    Column("pause_kind", String(12)),
    Column("reworks", Integer, server_default="0", nullable=False),
    Column("escalations", Integer, server_default="0", nullable=False),
    Column("overdue", Boolean, server_default=text("false"), nullable=False),
    Column("closed_on_time", Boolean),
    Column("department", Text),
    Column("kind", String(16), server_default="incident", nullable=False),
    Column("assignee", String(64)),
    Column("request_kind", String(12)),  # a pending request: extension or suspension
    Column("request_by", String(64)),
    Column("request_length", String(16)),  # as asked: 4h, 2d
    Column("extensions", Integer, server_default="0", nullable=False),  # approved
    Column("suspensions", Integer, server_default="0", nullable=False),  # approved
    at_column("paused_until"),
    Column("merged_into", UUID(as_uuid=True)),
    at_column("filed_at"),
    Column("dispatched_from", String(16)),  # the level that dispatched the case now waiting for sign-in
    # The assessment (cases.assessment): the due moment, the last resolution, the moment that places the
    # case in a period (NULL: in none yet), the first extension that moved the due moment.
    at_column("due_at"),
    at_column("resolved_at"),
    at_column("counted_at"),
    at_column("extended_at"),
    Column("hours_to_close", Float),  # working hours from report to close, kept when it closed
    Column("rolled", Boolean, server_default=text("false"), nullable=False),  # added to the rolls (cases.rollup)
    Column("number", String(24), nullable=False),  # 案卷编号 (cases.numbers)
    Index("ix_case_number", "number", unique=True),
    Index("ix_case_number_trgm", "number", postgresql_using="gin", postgresql_ops={"number": "gin_trgm_ops"}),
    Index("ix_case_state_level", "state", "level"),
    Index("ix_case_opened_at", "opened_at"),
    Index("ix_case_counted_at", "counted_at", postgresql_where=text("counted_at IS NOT NULL")),
    Index("ix_case_closed_at", "closed_at", postgresql_where=text("closed_at IS NOT NULL")),
    Index("ix_case_open_filed", "filed_at", postgresql_where=text("closed_at IS NULL")),
    Index("ix_case_grid", "grid_code"),
    # `GET /v1/cases`: an area's cases by the place's code prefix, and its order walked by key (keyset pages).
    Index("ix_case_place", text(f"({CASE_PLACE}) text_pattern_ops")),
    Index("ix_case_list_order", text(CASE_LIST_ORDER)),
    # The cases the indicators read one by one (not rolled) of an area: the few open or recent ones.
    Index("ix_case_unrolled_place", text(f"({CASE_PLACE}) text_pattern_ops"), postgresql_where=text("NOT rolled")),
    Index("ix_case_special_code", "special_code", postgresql_where=text("special_code IS NOT NULL")),
    Index("ix_case_deadline", "deadline", postgresql_where=text("closed_at IS NULL")),
    Index("ix_case_assignee", "assignee", postgresql_where=text("assignee IS NOT NULL")),
    Index("ix_case_paused_until", "paused_until", postgresql_where=text("paused_until IS NOT NULL")),
    # The cases the indicators read one by one (not rolled), by each moment a period is matched on.
    Index("ix_case_unrolled_opened", "opened_at", postgresql_where=text("NOT rolled")),
    Index("ix_case_unrolled_counted", "counted_at", postgresql_where=text("NOT rolled AND counted_at IS NOT NULL")),
    Index("ix_case_unrolled_closed", "closed_at", postgresql_where=text("NOT rolled AND closed_at IS NOT NULL")),
    Index("ix_case_component", "component", postgresql_where=text("component IS NOT NULL")),  # its open cases
)

# The last serial given to a case of the district ``region`` reported on ``day`` (cases.numbers).
case_serial = Table(
    "case_serial",
    metadata,
    Column("region", String(6), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("last", Integer, nullable=False),
)

# Every recorded event's id, once, with what a copy or another event under the id is told apart by: the
# writer's COPY meets a held id here (a partitioned table's keys hold only per month), and lookups by id
# (the receipts, the reconciler) read one index, not one per month. Written with the event (streams.writer).
event_key = Table(
    "event_key",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    at_column("occurred_at", nullable=False),  # where its row is: the month partition of event
    Column("content_hash", String(64), nullable=False),
)

event_receipt = Table(
    "event_receipt",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    now_column("received_at"),
    Column("reporter", Text),  # the message key
    Column("payload", LargeBinary),  # the raw-topic message, until the event is recorded (migration 0014)
    Column("resent", Integer, server_default="0", nullable=False),
    Index("ix_event_receipt_received_at", "received_at"),
)

# Partitioned by the month its case opened (migration 0030; db.partitions): a case's whole history is in one
# month, so the keys below hold across months as they did across the table (its case fixes case_opened_at).
case_transition = Table(
    "case_transition",
    metadata,
    Column("id", BigInteger, server_default=text("nextval('case_transition_row_seq')"), primary_key=True),
    at_column("case_opened_at", nullable=False, primary_key=True),  # its case's opened_at
    Column("case_id", UUID(as_uuid=True), ForeignKey("case.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("action", String(20), nullable=False),
    Column("actor", Text, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    at_column("at", nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("from_level", String(16), nullable=False),
    Column("to_level", String(16), nullable=False),
    at_column("deadline"),
    Column("published", Boolean, server_default=text("false"), nullable=False),
    # NULL: not an escalation; false: still to be produced to the escalations topic.
    Column("escalation_published", Boolean),
    now_column("recorded_at"),  # when it was written (``at`` is when it happened: a breach's missed deadline)
    UniqueConstraint("case_id", "seq", "case_opened_at", name="uq_case_transition_case_seq"),
    # A level is reached by escalation at most once: the clock can never record it twice.
    Index(
        "uq_case_transition_escalation",
        "case_id",
        "to_level",
        "case_opened_at",
        unique=True,
        postgresql_where=text("action IN ('escalate', 'auto_escalate')"),
    ),
    # Each missed deadline at the top is recorded once (``at`` is the deadline that was missed).
    Index(
        "uq_case_transition_overdue",
        "case_id",
        "at",
        "case_opened_at",
        unique=True,
        postgresql_where=text("action = 'overdue'"),
    ),
    Index("ix_case_transition_unpublished", "id", postgresql_where=text("NOT published OR NOT escalation_published")),
    Index("ix_case_transition_at", "at"),
    # A week's ended cases (the close-out), a small part of a week's transitions.
    Index("ix_case_transition_ended_at", "at", postgresql_where=text(f"to_state IN {ENDED_STATES}")),
    postgresql_partition_by="RANGE (case_opened_at)",
)

# A case one clock job could not handle: skipped until the case changes (its version moves on).
clock_skip = Table(
    "clock_skip",
    metadata,
    Column("case_id", UUID(as_uuid=True), ForeignKey("case.id"), primary_key=True),
    Column("version", Integer, nullable=False),  # the case's version when it failed
    Column("job", String(32), nullable=False),
    Column("error", Text, nullable=False),
    at_column("at", nullable=False),
)

patrol_breach = Table(
    "patrol_breach",
    metadata,
    Column("grid_code", String(15), primary_key=True),
    Column("day", Date, primary_key=True),
    at_column("flagged_at", nullable=False),
)

app_user = Table(
    "app_user",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("scope", String(400), nullable=False),  # an area, a unit, a special grid, or buildings (a 楼栋长's)
    Column("disabled", Boolean, server_default=text("false"), nullable=False),
    Column("display_name", String(64)),  # the name people read (张三); the login name when null
    Column("phone", String(20)),  # where a notice goes by SMS (streams.notices)
    now_column("created_at"),
)

rating = Table(
    "rating",
    metadata,
    Column("case_id", UUID(as_uuid=True), ForeignKey("case.id"), primary_key=True),
    Column("score", SmallInteger, nullable=False),
    Column("comment", Text, nullable=False),
    Column("rated_by", String(64), nullable=False),
    at_column("rated_at", nullable=False),
    CheckConstraint("score BETWEEN 1 AND 5", name="rating_score_range"),
)

# Appeals against a timeout (超时申诉): one per case; upheld, the case counts as closed on time.
appeal = Table(
    "appeal",
    metadata,
    Column("case_id", UUID(as_uuid=True), ForeignKey("case.id"), primary_key=True),
    Column("appellant", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("evidence", Text, nullable=False, server_default=""),  # a note
    Column("photo", String(64)),  # the sha256 of a photo of the case
    at_column("asked_at", nullable=False),
    Column("decided_by", String(64)),
    at_column("decided_at"),
    Column("upheld", Boolean),
    Column("decision_note", Text),
)

photo = Table(
    "photo",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("stage", String(8), nullable=False),
    Column("media_type", String(16), nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    at_column("taken_at"),
    Column("lon", Float),
    Column("lat", Float),
    Column("distance_m", Float),
    Column("flags", ARRAY(Text), nullable=False),
    Column("uploaded_by", String(64), nullable=False),
    now_column("uploaded_at"),
    Column("content", LargeBinary, nullable=False),
    at_column("event_occurred_at", nullable=False),  # its event's, with event_id the key of a partitioned event
    ForeignKeyConstraint(["event_id", "event_occurred_at"], ["event.id", "event.occurred_at"]),
)
