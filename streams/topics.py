"""Topic names and their explicit creation."""

from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.kafka import admin_client
from streams.settings import KafkaSettings


@dataclass(frozen=True)
class Topics:
    """The platform's topics, named under one prefix."""

    raw: str
    located: str
    dead: str
    transitions: str
    escalations: str

    @classmethod
    def from_prefix(cls, prefix: str) -> "Topics":
        """Name every topic under ``prefix``."""
        return cls(
            raw=f"{prefix}events.raw",
            located=f"{prefix}events.located",
            dead=f"{prefix}events.dead",
            transitions=f"{prefix}cases.transitions",
            escalations=f"{prefix}cases.escalations",
        )

    def all(self) -> list[str]:
        """Every topic name."""
        return [self.raw, self.located, self.dead, self.transitions, self.escalations]


def ensure_topics(admin: KafkaAdminClient, settings: KafkaSettings) -> list[str]:
    """Create the missing topics with the configured partitions; return those created.

    Topics are never left to broker auto-creation, which would pick its own
    partition count.
    """
    wanted = Topics.from_prefix(settings.topic_prefix).all()
    existing = set(admin.list_topics())
    missing = [name for name in wanted if name not in existing]
    created: list[str] = []
    for name in missing:
        try:
            admin.create_topics(
                [
                    NewTopic(
                        name,
                        num_partitions=settings.topic_partitions,
                        replication_factor=settings.topic_replication_factor,
                    )
                ]
            )
            created.append(name)
        except TopicAlreadyExistsError:
            pass
    return created


def partitions_off(admin: KafkaAdminClient, settings: KafkaSettings) -> dict[str, int]:
    """The platform's topics whose partition count is not the configured one, with the count they have.

    The local broker (Tansu) creates a topic on any metadata request for it, whatever the
    client asks, with 4 partitions, and cannot add partitions later: after it lost its
    topics, the first client to ask may get there before ``ensure_topics``.
    """
    wanted = Topics.from_prefix(settings.topic_prefix).all()
    found = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(wanted) if t["error_code"] == 0}
    return {name: n for name, n in found.items() if n != settings.topic_partitions}


def create_topics(settings: KafkaSettings) -> list[str]:
    """Connect, create the platform's missing topics (``ensure_topics``), disconnect; return those created."""
    admin = admin_client(settings)
    try:
        return ensure_topics(admin, settings)
    finally:
        admin.close()
