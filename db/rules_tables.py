"""The rules' bookkeeping (migrations 0010, 0031), declared once in the platform's ``metadata``.

The fingerprint the open cases' deadlines were computed with, and what each code of before the national
classification became.
"""

from sqlalchemy import CheckConstraint, Column, SmallInteger, String, Table

from db.tables import at_column, metadata, now_column

# One row: the fingerprint of the rules and calendar the open cases' deadlines were computed with.
rules_version = Table(
    "rules_version",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    at_column("applied_at", nullable=False),
    CheckConstraint("id = 1", name="rules_version_single_row"),
)

# The platform codes of before the national classification and what each became (migration 0031).
category_mapping = Table(
    "category_mapping",
    metadata,
    Column("old_code", String(8), primary_key=True),
    Column("new_code", String(8), nullable=False),
    Column("condition", String(2)),  # the filing condition the old code meant, if one
    now_column("mapped_at"),
)
