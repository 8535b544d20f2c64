"""Where the SLA rules are and how often the clock looks."""

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_HISTORY_MONTHS = 12


class SlaSettings(BaseSettings):
    """Where the SLA rules are and how often the clock looks."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    sla_rules_file: str | None = None  # default: cases/data/sla_rules.yaml
    workdays_file: str | None = None  # official working days for years chinesecalendar lacks
    sla_tick_s: float = 2.0
    grades_file: str | None = None  # default: cases/data/grades.yaml (the monthly report's grades)
    # /health judges the clock by its last finished tick and its oldest unpublished transition.
    clock_degraded_after_s: float = Field(default=30.0, gt=0)
    clock_failing_after_s: float = Field(default=120.0, gt=0)
    # Months a case's history is kept after the month its case opened, once every case of that month ended
    # (db.partitions); 0 keeps it for good. At least a year: the close-outs and appeals read it.
    case_history_months: int = Field(default=0, ge=0)
    # Months the events (reports, patrols, visits, and their photos) are kept after the month they happened in,
    # once every case they opened has ended; 0 keeps them for good. At least a year, as the history.
    event_months: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> "SlaSettings":
        if self.clock_failing_after_s <= self.clock_degraded_after_s:
            raise ValueError("GRIDGOV_CLOCK_FAILING_AFTER_S must be larger than GRIDGOV_CLOCK_DEGRADED_AFTER_S")
        for name, months in (("CASE_HISTORY_MONTHS", self.case_history_months), ("EVENT_MONTHS", self.event_months)):
            if 0 < months < MIN_HISTORY_MONTHS:
                raise ValueError(
                    f"GRIDGOV_{name} must be 0 (kept for good) or at least {MIN_HISTORY_MONTHS}, not {months}"
                )
        return self
