"""The tables of Open311 (migration 0006): the clients that may post, and the requests they posted."""

from sqlalchemy import Boolean, Column, Float, Index, String, Table, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from db.tables import at_column, metadata, now_column

api_client = Table(
    "api_client",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("key_sha256", String(64), nullable=False),
    Column("disabled", Boolean, server_default=text("false"), nullable=False),
    now_column("created_at"),
    UniqueConstraint("key_sha256", name="api_client_key_sha256_key"),  # PostgreSQL's own name (migration 0006)
)

open311_request = Table(
    "open311_request",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("client", String(64), nullable=False),
    Column("service_code", String(8), nullable=False),
    Column("description", Text, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("address", Text),
    Column("media_url", Text),
    Column("contact", JSONB, nullable=False),
    at_column("requested_at", nullable=False),
    Index("ix_open311_requested", "requested_at"),
)
