"""Where the SLA rules are and how often the clock looks."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class SlaSettings(BaseSettings):
    """Where the SLA rules are and how often the clock looks."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    sla_rules_file: str | None = None  # default: cases/data/sla_rules.yaml
    workdays_file: str | None = None  # official working days for years chinesecalendar lacks
    sla_tick_s: float = 2.0
