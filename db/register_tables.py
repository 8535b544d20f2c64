"""The registers' tables (migrations 0016, 0022, 0026), declared once in the platform's ``metadata``.

Buildings under grids, their households, the people in them; the log of reads of personal data;
gridworkers' notes on their day.
"""

from typing import Literal, get_args

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from db.tables import at_column, metadata, now_column

building = Table(
    "building",
    metadata,
    Column("code", String(18), primary_key=True),  # its grid's 15 digits and 3 of its own
    Column("grid_code", String(15), nullable=False),
    Column("name", Text, nullable=False),
    Column("head", Text),  # the building head (楼栋长)
    Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),  # a point or a footprint
    Column("synthetic", Boolean, server_default=text("false"), nullable=False),
    now_column("updated_at"),
    Index("ix_building_grid_code", "grid_code"),
    Index("ix_building_geom", "geom", postgresql_using="gist"),  # a case's nearest place (cases.search)
)

household = Table(
    "household",
    metadata,
    Column("id", String(48), primary_key=True),  # building-unit-room
    Column("building_code", String(18), ForeignKey("building.code"), nullable=False),
    Column("unit", String(8), nullable=False),
    Column("room", String(16), nullable=False),
    Column("address", Text, nullable=False),
    Column("grid_code", String(15), nullable=False),
    Column("members", Integer, server_default="0", nullable=False),
    Column("tags", ARRAY(Text), server_default="{}", nullable=False),  # its members' tags
    Column("registered_on", Date, server_default=func.current_date(), nullable=False),
    Column("synthetic", Boolean, server_default=text("false"), nullable=False),
    now_column("updated_at"),
    # Its latest visit and that visit's local day (the writer keeps both with the visit events): due lists,
    # coverage and the map read them.
    at_column("last_visit_at"),
    Column("last_visit_on", Date),
    Index("ix_household_grid_code", "grid_code"),
)

# How many households of a grid share tags, registration day and the month of their latest visit (none: never
# visited): all that visit coverage and the map's overdue count need, kept by a trigger on household.
household_visit_roll = Table(
    "household_visit_roll",
    metadata,
    Column("grid_code", String(15), nullable=False),
    Column("tags", ARRAY(Text), nullable=False),
    Column("registered_on", Date, nullable=False),
    Column("last_month", Date),
    Column("n", Integer, nullable=False),
    UniqueConstraint(
        "grid_code",
        "tags",
        "registered_on",
        "last_month",
        name="uq_household_visit_roll",
        postgresql_nulls_not_distinct=True,
    ),
)


# Kept per statement from its transition tables (an import of 400,000 households is one grouped upsert).
def _key(row: str) -> str:
    return f"{row}.grid_code, {row}.tags, {row}.registered_on, CAST(date_trunc('month', {row}.last_visit_on) AS date)"


_ADD = f"""
    INSERT INTO household_visit_roll AS r (grid_code, tags, registered_on, last_month, n)
    SELECT {_key("x")}, count(*) FROM {{rows}} GROUP BY 1, 2, 3, 4
    ON CONFLICT (grid_code, tags, registered_on, last_month) DO UPDATE SET n = r.n + EXCLUDED.n;"""
_TAKE = f"""
    UPDATE household_visit_roll r SET n = r.n - g.n
    FROM (SELECT {_key("x")}, count(*) AS n FROM {{rows}} GROUP BY 1, 2, 3, 4)
      AS g (grid_code, tags, registered_on, last_month, n)
    WHERE r.grid_code = g.grid_code AND r.tags = g.tags AND r.registered_on = g.registered_on
      AND r.last_month IS NOT DISTINCT FROM g.last_month;"""
_MOVED = (
    "(SELECT {side}.* FROM before_rows b JOIN after_rows a ON a.id = b.id"
    f" WHERE ({_key('b')}) IS DISTINCT FROM ({_key('a')})) x"
)
VISIT_ROLL_FUNCTION = f"""
CREATE FUNCTION household_visit_roll_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN{_ADD.format(rows="after_rows x")}
  ELSIF TG_OP = 'DELETE' THEN{_TAKE.format(rows="before_rows x")}
  ELSE{_TAKE.format(rows=_MOVED.format(side="b"))}{_ADD.format(rows=_MOVED.format(side="a"))}
  END IF;
  RETURN NULL;
END $$
"""
VISIT_ROLL_TRIGGERS = [
    "CREATE TRIGGER household_visit_roll_added AFTER INSERT ON household REFERENCING NEW TABLE AS after_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION household_visit_roll_keep()",
    "CREATE TRIGGER household_visit_roll_removed AFTER DELETE ON household REFERENCING OLD TABLE AS before_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION household_visit_roll_keep()",
    "CREATE TRIGGER household_visit_roll_moved AFTER UPDATE ON household"
    " REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION household_visit_roll_keep()",
]

# ID and phone numbers only sealed (registers.protect) and masked; found by the keyed hash of the ID number.
person = Table(
    "person",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("household_id", String(48), ForeignKey("household.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("id_hash", String(64), nullable=False),
    Column("id_sealed", LargeBinary, nullable=False),
    Column("id_masked", String(18), nullable=False),
    Column("phone_sealed", LargeBinary),
    Column("phone_masked", String(16)),
    Column("birth_date", Date, nullable=False),
    Column("relation", Text, nullable=False),
    Column("tags", ARRAY(Text), server_default="{}", nullable=False),
    Column("synthetic", Boolean, server_default=text("false"), nullable=False),
    now_column("updated_at"),
    UniqueConstraint("id_hash", name="uq_person_id_hash"),
    Index("ix_person_household_id", "household_id"),
    Index("ix_person_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
)

# Every everyday change to the register (registers.changes): proposed by a gridworker and decided by
# a community supervisor, or applied at once by a supervisor. ``client_id`` makes a resent proposal one.
register_change = Table(
    "register_change",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("client_id", UUID(as_uuid=True), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("grid_code", String(15), nullable=False),
    Column("household_id", String(48)),
    Column("person_id", BigInteger),
    Column("details", JSONB, nullable=False),  # what the change sets (no ID number in clear: sealed)
    Column("reason", Text, nullable=False),
    Column("state", String(8), nullable=False),  # proposed, applied, refused
    Column("proposed_by", String(64), nullable=False),
    now_column("proposed_at"),
    Column("decided_by", String(64)),
    Column("decided_at", DateTime(timezone=True)),
    Column("decision_note", Text),
    Column("outcome", JSONB),  # what applying it did: the new person's or household's id
    UniqueConstraint("client_id", name="uq_register_change_client_id"),
    Index("ix_register_change_grid_state", "grid_code", "state"),
)

# An import made in the browser: its progress while it runs, then its report (messages by key).
register_import = Table(
    "register_import",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("actor", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("filename", Text, nullable=False),
    Column("state", String(8), nullable=False),  # checked, running, done, failed
    Column("stage", String(9)),
    Column("done", Integer, server_default="0", nullable=False),
    Column("total", Integer, server_default="0", nullable=False),
    Column("report", JSONB),
    now_column("started_at"),
    now_column("updated_at"),  # its last progress: a running import that stops moving has failed
    Column("finished_at", DateTime(timezone=True)),
)

# Every unmasked read, search, export and deletion of personal data: who, when, whom, what for.
# Partitioned by month of ``at`` (db.partitions; migration 0029): retention drops whole months.
pii_access = Table(
    "pii_access",
    metadata,
    Column("id", BigInteger, server_default=text("nextval('pii_access_row_seq')"), primary_key=True),
    at_column("at", server_default=func.now(), primary_key=True),
    Column("actor", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(9), nullable=False),  # read, search, export, delete, read_text
    Column("person_id", BigInteger),  # no foreign key: the log outlives a deleted person
    Column("household_id", String(48)),
    Column("purpose", Text, nullable=False),
    Column("rows", Integer, server_default="1", nullable=False),
    Column("case_id", UUID(as_uuid=True)),  # a case's text read unmasked (read_text)
    Index("ix_pii_access_at", "at"),
    postgresql_partition_by="RANGE (at)",
)

# Free text that held personal numbers, sealed (registers.free_text): the column keeps it masked.
# ``source`` says which text (description: an event's, ref its id; note: a transition's, ref case:seq).
sealed_text = Table(
    "sealed_text",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("ref", String(80), primary_key=True),
    Column("sealed", LargeBinary, nullable=False),
    now_column("created_at"),
)

# A gridworker's own note on their daily work log (每日工作日志).
work_note = Table(
    "work_note",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("note", Text, nullable=False),
    now_column("updated_at"),
)

# The component register (部件普查数据, GB/T 30428.2): each city component by its 16-digit identifier
# (county 6 + 大类 2 + 小类 2 + serial 6), a point or a line, who owns and who maintains it, its state.
ComponentStatus = Literal["完好", "破损", "丢失", "占用", "废弃"]
COMPONENT_STATUSES: tuple[str, ...] = get_args(ComponentStatus)
component = Table(
    "component",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("category", String(8), nullable=False),  # its class: BJ + 大类 + 小类 (the code's digits 7-10)
    Column("name", Text, nullable=False),
    Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),  # a point or a line
    Column("grid_code", String(15), nullable=False),
    Column("owner", Text, nullable=False),  # 权属单位
    Column("maintainer", Text),  # 养护单位
    Column("status", String(4), nullable=False),
    Column("surveyed_on", Date),  # 普查日期
    Column("synthetic", Boolean, server_default=text("false"), nullable=False),
    now_column("updated_at"),
    Index("ix_component_geom", "geom", postgresql_using="gist"),  # the components near a reporter
    Index("ix_component_grid_code", "grid_code"),
    Index("ix_component_owner", "owner"),  # the units cases may go to (cases.routing.known_units)
)

# A unit's area of responsibility (责任区): a road's unit within a buffer of the road, a park's in the park.
# A case that no component or filing condition assigns goes to the unit whose area holds its place.
unit_area = Table(
    "unit_area",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("unit", Text, nullable=False),
    Column("name", Text, nullable=False),  # what the area is: 人民路, 人民公园
    Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
    now_column("updated_at"),
    Index("ix_unit_area_geom", "geom", postgresql_using="gist"),
)
