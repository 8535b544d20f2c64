"""The engine and the migrations of the PostGIS database."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(
    url: str,
    pool_size: int = 5,
    *,
    connect_timeout_s: int = 5,
    pool_timeout_s: float = 30.0,
    statement_timeout_ms: int = 0,
    lock_timeout_ms: int = 0,
) -> Engine:
    """An engine whose connections fail fast when the server is away.

    ``connect_timeout_s`` bounds a new connection (libpq's minimum is 2 s), ``pool_timeout_s`` the
    wait for a free one, and the server ends a statement after ``statement_timeout_ms`` and a wait
    for a lock after ``lock_timeout_ms`` (0: no limit). A server that hangs without closing its
    connections (stopped, not down) is not bounded here: the API's deadline answers for it.
    """
    connect: dict[str, object] = {"connect_timeout": max(2, connect_timeout_s)}
    if statement_timeout_ms or lock_timeout_ms:  # only then: a pooler may refuse startup options
        connect["options"] = f"-c statement_timeout={statement_timeout_ms} -c lock_timeout={lock_timeout_ms}"
    return create_engine(
        url, pool_size=pool_size, pool_timeout=pool_timeout_s, pool_pre_ping=True, connect_args=connect
    )


def alembic_config(url: str) -> Config:
    """Alembic configuration for ``url`` without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision``."""
    command.upgrade(alembic_config(url), revision)
