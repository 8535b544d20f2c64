"""Settings of location."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class LocateSettings(BaseSettings):
    """How points are placed in grids."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    locate_tolerance_m: float = 50.0
    locate_refresh_s: float = 5.0
