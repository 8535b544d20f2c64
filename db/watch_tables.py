"""What the running processes keep of themselves, read by ``/health`` and ``/metrics``.

The recording workers and the SLA clocks, a row each, and the pipeline's totals.
"""

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

from db.tables import at_column, metadata

# One row per running recording worker: what it owns and when it last made progress.
pipeline_member = Table(
    "pipeline_member",
    metadata,
    Column("member", Text, primary_key=True),
    Column("group_id", Text, nullable=False),
    Column("partitions", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    at_column("started_at", nullable=False),
    at_column("seen_at", nullable=False),
    at_column("progress_at"),  # the last batch recorded (none yet: empty)
    at_column("caught_up_at"),  # the last poll that found nothing left on every partition owned
    Column("recorded", BigInteger, server_default="0", nullable=False),
    Column("rejoins", Integer, server_default="0", nullable=False),
)

# Totals the pipeline keeps across processes (reconciled, recorded), read by /metrics.
pipeline_counter = Table(
    "pipeline_counter",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, server_default="0", nullable=False),
)

# One row per running SLA clock: when its last tick finished, and how its ticks went (read by /health, /metrics).
clock_member = Table(
    "clock_member",
    metadata,
    Column("member", Text, primary_key=True),
    at_column("started_at", nullable=False),
    at_column("ticked_at"),  # the last tick that finished, whether or not each job in it succeeded
    Column("ticks", BigInteger, server_default="0", nullable=False),
    Column("failures", BigInteger, server_default="0", nullable=False),  # jobs that failed, counted per tick
    Column("last_error", Text),
)
