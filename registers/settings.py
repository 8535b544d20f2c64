"""Settings of the registers: the key that protects personal data, and the visit rules file."""

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from registers.protect import Protector

# Development only: every checkout knows it, so outside development it is refused.
DEVELOPMENT_PII_KEY = "d" * 64


class RegisterSettings(BaseSettings):
    """``GRIDGOV_PII_KEY``: 64 hex digits (32 bytes), from which the encryption and search keys are derived."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    pii_key: str = DEVELOPMENT_PII_KEY
    pii_old_keys: str = ""  # keys being rotated away from, comma-separated (gridgov registers rekey)
    visit_rules_file: str | None = None
    access_log_days: int = Field(default=3 * 365, ge=30)  # how long pii_access rows are kept

    @model_validator(mode="after")
    def _refuse_development_key(self) -> "RegisterSettings":
        for name, key in (("GRIDGOV_PII_KEY", self.pii_key), *(("GRIDGOV_PII_OLD_KEYS", k) for k in self.old_keys())):
            try:
                valid = len(bytes.fromhex(key)) == 32
            except ValueError:
                valid = False
            if not valid:
                raise ValueError(f"{name}: each key is 64 hex digits (32 bytes): make one with `openssl rand -hex 32`")
        if self.env != "development" and self.pii_key == DEVELOPMENT_PII_KEY:
            raise ValueError(
                f"GRIDGOV_PII_KEY must be set when GRIDGOV_ENV is {self.env}: ID and phone numbers are encrypted"
                " with it (make one with `openssl rand -hex 32`, and keep it: without it they cannot be read)"
            )
        return self

    def old_keys(self) -> tuple[str, ...]:
        """The keys being rotated away from."""
        return tuple(k.strip() for k in self.pii_old_keys.split(",") if k.strip())

    def protector(self) -> Protector:
        """Seals under ``GRIDGOV_PII_KEY``; opens and searches under it and the old keys."""
        return Protector(self.pii_key, self.old_keys())
