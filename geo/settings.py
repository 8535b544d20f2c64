"""Database settings."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    """Where PostGIS is: an existing server, or the project-local cluster."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    database_url: str | None = None
    local_pg_port: int = 55432
    local_pg_database: str = "gridgov"
    db_pool_size: int = 5

    @property
    def is_local(self) -> bool:
        """Whether the project runs its own cluster (no URL given)."""
        return self.database_url is None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the database to use."""
        if self.database_url is not None:
            return self.database_url
        return local_url(self.local_pg_port, self.local_pg_database)


def local_url(port: int, database: str) -> str:
    """SQLAlchemy URL of a database on the project-local cluster."""
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"


class LocateSettings(BaseSettings):
    """How points are placed in grids."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    locate_tolerance_m: float = 50.0
    locate_refresh_s: float = 5.0
