"""Case numbers (案卷编号) and what finding a case needs.

Every case gets a number a person reads aloud and types: its district's code, the day it was
reported in the city's zone and that day's serial, ``321111-20261206-0017`` (cases.numbers).
``case_serial`` keeps the last serial given per district and day. Cases stored before this are
numbered here in the order they were reported, each day in China Standard Time (the zone of every
city the platform serves; the rules' zone numbers the new ones).

Finding (cases.search): PostgreSQL's trigram index (``pg_trgm``) on case numbers and on the
descriptions of reports, an index on who reported, and a spatial index on buildings (a case's
nearest place). Trigrams of Chinese text need a character type that knows CJK letters: the local
cluster's databases are created with ``LC_CTYPE C.UTF-8``; under plain ``C`` the same searches
give the same answers, unindexed.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_NUMBER_OLD = """
WITH d AS (
  SELECT id, opened_at, coalesce(district_code, '000000') AS region,
         (opened_at AT TIME ZONE 'Asia/Shanghai')::date AS day
  FROM "case"
), n AS (
  SELECT id, region, day, row_number() OVER (PARTITION BY region, day ORDER BY opened_at, id)::text AS serial FROM d
), numbered AS (
  UPDATE "case" c
     SET number = n.region || '-' || to_char(n.day, 'YYYYMMDD') || '-'
                  || lpad(n.serial, greatest(4, length(n.serial)), '0')
    FROM n WHERE c.id = n.id
  RETURNING n.region, n.day, n.serial
)
INSERT INTO case_serial (region, day, last) SELECT region, day, max(serial::int) FROM numbered GROUP BY region, day
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "case_serial",
        sa.Column("region", sa.String(6), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )
    op.add_column("case", sa.Column("number", sa.String(24)))
    op.execute(_NUMBER_OLD)
    op.alter_column("case", "number", nullable=False)
    op.create_index("ix_case_number", "case", ["number"], unique=True)
    op.execute('CREATE INDEX ix_case_number_trgm ON "case" USING gin (number gin_trgm_ops)')
    op.execute(
        "CREATE INDEX ix_event_case_description ON event USING gin (description gin_trgm_ops)"
        " WHERE kind IN ('incident', 'request')"
    )
    op.execute("CREATE INDEX ix_event_case_reporter ON event (reporter) WHERE kind IN ('incident', 'request')")
    op.execute("CREATE INDEX ix_building_geom ON building USING gist (geom)")


def downgrade() -> None:
    op.drop_index("ix_building_geom", "building")
    op.drop_index("ix_event_case_reporter", "event")
    op.drop_index("ix_event_case_description", "event")
    op.drop_index("ix_case_number_trgm", "case")
    op.drop_index("ix_case_number", "case")
    op.drop_column("case", "number")
    op.drop_table("case_serial")
