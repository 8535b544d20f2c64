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


def create_topics(settings: KafkaSettings) -> list[str]:
    """Connect, create the platform's missing topics (``ensure_topics``), disconnect; return those created."""
    admin = admin_client(settings)
    try:
        return ensure_topics(admin, settings)
    finally:
        admin.close()
