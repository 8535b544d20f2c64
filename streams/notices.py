"""Telling people of their cases when the app is closed: a case dispatched to them, their work sent back.

The transition writes a ``notice`` row in its own transaction (cases.store); the clock's job sends
the unsent ones through a ``Sender``: an SMS gateway configured by settings, or by default the log.
A notice that fails is tried again on later ticks, at most ``GRIDGOV_NOTICE_ATTEMPTS`` times; one
for a person with no phone number is set aside with that reason. The words come from the caller
(the clock process words them in the city's language).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine, text

log = logging.getLogger(__name__)
NO_PHONE = "no phone number"

_UNSENT = """
SELECT n.id, n.username, n.kind, n.attempts, u.phone, u.display_name, c.number, c.category, c.deadline
FROM notice n LEFT JOIN app_user u ON u.username = n.username LEFT JOIN "case" c ON c.id = n.case_id
WHERE n.sent_at IS NULL AND n.attempts < :attempts ORDER BY n.id LIMIT :limit
FOR UPDATE OF n SKIP LOCKED
"""


class NoticeSettings(BaseSettings):
    """Where notices go: an SMS gateway (``GRIDGOV_SMS_GATEWAY_URL``), or the log when none is set."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    sms_gateway_url: str | None = None  # POST {"to": phone, "text": text}, JSON; any 2xx is sent
    sms_gateway_token: str | None = None  # sent as "Authorization: Bearer …"
    sms_timeout_s: float = Field(default=5.0, gt=0, le=60)
    notice_attempts: int = Field(default=5, ge=1, le=100)

    def sender(self) -> "Sender":
        """The configured sender."""
        if self.sms_gateway_url:
            return SmsGateway(self.sms_gateway_url, self.sms_gateway_token, self.sms_timeout_s)
        return LogSender()


class Sender(Protocol):
    """Sends one text to one person; raises when it could not."""

    needs_phone: bool

    def send(self, phone: str | None, username: str, text: str) -> None:
        """Send ``text`` to ``username`` (at ``phone``)."""


class LogSender:
    """The default: the notice is written to the log (a deployment with no gateway still sees them)."""

    needs_phone = False

    def send(self, phone: str | None, username: str, text: str) -> None:
        """Log the notice."""
        log.info("notice to %s: %s", username, text)


@dataclass(frozen=True)
class SmsGateway:
    """An HTTP SMS gateway: ``POST url`` with ``{"to", "text"}`` and a bearer token."""

    url: str
    token: str | None
    timeout_s: float
    needs_phone = True

    def send(self, phone: str | None, username: str, text: str) -> None:
        """Post the message; a non-2xx answer or no answer in time raises."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = httpx.post(self.url, json={"to": phone, "text": text}, headers=headers, timeout=self.timeout_s)
        response.raise_for_status()


def send_notices(
    engine: Engine, sender: Sender, words: Callable[[Any], str], attempts: int = 5, limit: int = 100
) -> int:
    """Send up to ``limit`` unsent notices, oldest first; how many were sent.

    ``words`` makes a notice's text from its row (kind, number, category, deadline, display name).
    Rows are locked while sent (two clocks never send one twice) and each outcome is kept.
    """
    sent = 0
    with engine.begin() as conn:
        for row in conn.execute(text(_UNSENT), {"attempts": attempts, "limit": limit}).all():
            outcome: dict[str, Any] = {"id": row.id, "error": None, "sent": False, "give_up": False}
            if sender.needs_phone and not row.phone:
                outcome |= {"error": NO_PHONE, "give_up": True}  # set aside: no number to send to
            else:
                try:
                    sender.send(row.phone, row.username, words(row))
                    outcome["sent"] = True
                    sent += 1
                except (httpx.HTTPError, OSError) as exc:
                    log.warning("notice %s to %s not sent: %s", row.id, row.username, exc)
                    outcome["error"] = str(exc)[:500]
            conn.execute(
                text(
                    "UPDATE notice SET error = :error, sent_at = CASE WHEN :sent THEN now() END,"
                    " attempts = CASE WHEN :give_up THEN :most ELSE attempts + 1 END WHERE id = :id"
                ),
                outcome | {"most": attempts},
            )
    return sent
