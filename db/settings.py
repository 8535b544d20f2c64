"""Where the database is: an existing server, or the project-local cluster."""

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine, make_url

from db.engine import make_engine


class DatabaseSettings(BaseSettings):
    """Where PostGIS is: an existing server, or the project-local cluster."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    database_url: str | None = None
    local_pg_port: int = 55432
    local_pg_database: str = "gridgov"
    db_pool_size: int = 20
    # What the API waits for PostgreSQL at most (a post is answered within GRIDGOV_POST_TIMEOUT_S anyway).
    db_connect_timeout_s: int = Field(default=2, ge=2)  # libpq's minimum
    db_pool_timeout_s: float = Field(default=1.0, gt=0)  # for a free connection of the pool
    db_statement_timeout_ms: int = Field(default=30_000, ge=0)  # any one statement of the API (0: no limit)
    db_lock_timeout_ms: int = Field(default=5_000, ge=0)  # any one wait for a row or table lock (0: no limit)
    # TLS to an external server (libpq's sslmode; verify-full checks the certificate and host name).
    db_sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    db_sslrootcert: str | None = None
    # Screens, indicators, tiles, map values, reports and exports may read from a streaming-replication
    # standby: while its lag stays within standby_max_lag_s (checked every standby_check_s), else the primary.
    database_read_url: str | None = None
    standby_max_lag_s: float = Field(default=10.0, gt=0)
    standby_check_s: float = Field(default=1.0, gt=0, le=60)
    local_standby_port: int | None = None  # `gridgov services up --standby`; default: the primary's port + 10

    def api_engine(self) -> Engine:
        """The API's engine: every wait on PostgreSQL bounded by the settings above."""
        return make_engine(
            self.url,
            self.db_pool_size,
            connect_timeout_s=self.db_connect_timeout_s,
            pool_timeout_s=self.db_pool_timeout_s,
            statement_timeout_ms=self.db_statement_timeout_ms,
            lock_timeout_ms=self.db_lock_timeout_ms,
        )

    def watch_engine(self) -> Engine:
        """A small engine of its own for /health and /metrics: hung requests holding the API's pool do not hold it."""
        return make_engine(self.url, 4, connect_timeout_s=2, pool_timeout_s=1, statement_timeout_ms=5000)

    def read_engine(self) -> Engine | None:
        """The standby's engine for the read routes (bounded like the API's), if a read URL is set."""
        url = self.read_url
        if url is None:
            return None
        return make_engine(
            url,
            self.db_pool_size,
            connect_timeout_s=self.db_connect_timeout_s,
            pool_timeout_s=self.db_pool_timeout_s,
            statement_timeout_ms=self.db_statement_timeout_ms,
        )

    @property
    def standby_port(self) -> int:
        """The local standby's port."""
        return self.local_standby_port or self.local_pg_port + 10

    @property
    def is_local(self) -> bool:
        """Whether the project runs its own cluster (no URL given)."""
        return self.database_url is None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the database to use."""
        if self.database_url is None:
            return local_url(self.local_pg_port, self.local_pg_database)
        return self._with_tls(self.database_url)

    @property
    def read_url(self) -> str | None:
        """SQLAlchemy URL of the standby the read routes may use (``GRIDGOV_DATABASE_READ_URL``), if any."""
        return None if self.database_read_url is None else self._with_tls(self.database_read_url)

    def _with_tls(self, url: str) -> str:
        tls = {"sslmode": self.db_sslmode, "sslrootcert": self.db_sslrootcert}
        extra = {k: v for k, v in tls.items() if v is not None}
        if not extra:
            return url
        return make_url(url).update_query_dict(extra).render_as_string(hide_password=False)


def local_url(port: int, database: str) -> str:
    """SQLAlchemy URL of a database on the project-local cluster."""
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
