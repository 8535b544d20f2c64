"""What every local service reports."""

from dataclasses import dataclass


class ServiceError(RuntimeError):
    """A local service could not be started; the message says what to do."""


@dataclass(frozen=True)
class ServiceStatus:
    """One service: where it listens, whether it is healthy, who runs it."""

    name: str
    address: str
    healthy: bool
    managed: bool
    detail: str = ""
