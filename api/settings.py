"""Settings of the API and the local services, and the bundle of all settings."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cases.report import GRADES_FILE, Grades, load_grades
from cases.rules import RULES_FILE, Rules, load_rules
from cases.settings import SlaSettings
from db.settings import DatabaseSettings
from geo.settings import LocateSettings
from registers.cadence import VISIT_RULES_FILE, VisitRules, load_visit_rules
from registers.settings import RegisterSettings
from streams.settings import KafkaSettings, PipelineSettings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEVELOPMENT_SECRET = "development-only-secret-change-me"


class ApiSettings(BaseSettings):
    """How the HTTP API runs."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    secret_key: str = DEVELOPMENT_SECRET
    tile_url: str | None = None
    tile_cache_mb: float = Field(default=64.0, ge=0)  # vector tiles of the grids kept in memory (0: none)
    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 4 * 1024 * 1024
    max_photo_bytes: int = 5 * 1024 * 1024
    max_json_bytes: int = 256 * 1024  # any other body: transitions, notes, searches, users, requests' actions
    token_ttl_minutes: int = Field(default=480, ge=1, le=7 * 24 * 60)
    user_cache_s: float = Field(default=10.0, ge=0)
    # Every answer within a bound (api.deadline): a post is answered 202 or 503 within post_timeout_s,
    # any other request begins its answer within request_timeout_s (of its last byte received).
    post_timeout_s: float = Field(default=1.8, ge=0.5, le=60)
    request_timeout_s: float = Field(default=30.0, ge=1, le=600)
    event_posts_per_minute: float = Field(default=120.0, ge=0)
    event_post_burst: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> "ApiSettings":
        if self.env != "development" and (self.secret_key == DEVELOPMENT_SECRET or len(self.secret_key) < 32):
            raise ValueError(
                f"GRIDGOV_SECRET_KEY must be set to a random value of at least 32 characters when GRIDGOV_ENV is"
                f" {self.env} (only development may use the built-in one)"
            )
        return self


class LocalSettings(BaseSettings):
    """Where the project-local services keep their data, logs and pid files."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    state_dir: Path = PROJECT_ROOT / ".gridgov"
    pg_bindir: Path = Path("/usr/lib/postgresql/15/bin")


@dataclass(frozen=True)
class Settings:
    """Every concern's settings, read from ``GRIDGOV_*`` environment variables."""

    api: ApiSettings = field(default_factory=ApiSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    locate: LocateSettings = field(default_factory=LocateSettings)
    sla: SlaSettings = field(default_factory=SlaSettings)
    registers: RegisterSettings = field(default_factory=RegisterSettings)

    def visit_rules(self) -> VisitRules:
        """The visit cadence rules this deployment uses (validated)."""
        path = self.registers.visit_rules_file
        return load_visit_rules(Path(path) if path else VISIT_RULES_FILE)

    def grades(self) -> Grades:
        """The monthly report's grades (validated)."""
        return load_grades(Path(self.sla.grades_file) if self.sla.grades_file else GRADES_FILE)

    def rules(self) -> Rules:
        """The SLA rules this deployment uses (validated)."""
        workdays = Path(self.sla.workdays_file) if self.sla.workdays_file else None
        return load_rules(Path(self.sla.sla_rules_file) if self.sla.sla_rules_file else RULES_FILE, workdays)

    local: LocalSettings = field(default_factory=LocalSettings)
