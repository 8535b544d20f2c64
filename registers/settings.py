"""Settings of the registers: the key that protects personal data, and the visit rules file."""

from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development only: every checkout knows it, so outside development it is refused.
DEVELOPMENT_PII_KEY = "d" * 64


class RegisterSettings(BaseSettings):
    """``GRIDGOV_PII_KEY``: 64 hex digits (32 bytes), from which the encryption and search keys are derived."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    pii_key: str = DEVELOPMENT_PII_KEY
    visit_rules_file: str | None = None

    @model_validator(mode="after")
    def _refuse_development_key(self) -> "RegisterSettings":
        try:
            valid = len(bytes.fromhex(self.pii_key)) == 32
        except ValueError:
            valid = False
        if not valid:
            raise ValueError("GRIDGOV_PII_KEY must be 64 hex digits (32 bytes): make one with `openssl rand -hex 32`")
        if self.env != "development" and self.pii_key == DEVELOPMENT_PII_KEY:
            raise ValueError(
                f"GRIDGOV_PII_KEY must be set when GRIDGOV_ENV is {self.env}: ID and phone numbers are encrypted"
                " with it (make one with `openssl rand -hex 32`, and keep it: without it they cannot be read)"
            )
        return self
