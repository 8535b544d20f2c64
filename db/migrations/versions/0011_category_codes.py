"""Category codes of CJ/T 214 (event schema v2): existing events, cases and Open311 requests renamed.

The mapping is written here, not read from cases/data, so that this migration means the same
forever. All codes change in one statement per table: some new codes are old ones of other
categories (0101 was 暴露垃圾 and is now 私搭乱建).

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

RENAMED = {
    "0101": "0102",
    "0102": "0103",
    "0103": "8101",
    "0104": "0201",
    "0105": "8102",
    "0106": "0504",
    "0107": "8103",
    "0201": "8201",
    "0202": "8202",
    "0203": "8203",
    "0204": "8204",
    "0205": "8205",
    "0206": "0402",
    "0301": "8301",
    "0302": "8302",
    "0303": "8303",
    "0304": "8304",
    "0305": "8305",
    "0306": "8306",
    "0401": "8401",
    "0402": "8402",
    "0403": "8403",
    "0404": "8404",
    "0501": "0101",
    "0502": "8501",
    "0503": "8502",
    "0601": "8601",
    "0602": "8602",
    "0603": "0204",
    "0604": "0502",
    "0701": "8701",
    "0702": "8702",
    "0703": "8703",
    "0704": "8704",
    "0901": "9001",
    "0902": "9002",
    "1001": "9101",
    "1002": "9102",
    "1003": "9103",
    "1004": "9104",
    "1005": "9105",
    "1006": "9106",
}
COLUMNS = (("event", "category"), ('"case"', "category"), ("open311_request", "service_code"))


def _rename(mapping: dict[str, str]) -> None:
    cases = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in mapping.items())
    for table, column in COLUMNS:
        op.execute(f"UPDATE {table} SET {column} = CASE {column} {cases} ELSE {column} END")


def upgrade() -> None:
    _rename(RENAMED)


def downgrade() -> None:
    _rename({new: old for old, new in RENAMED.items()})
