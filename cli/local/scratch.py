"""Databases and topics of their own, for a test run or a benchmark, on the configured services."""

import dataclasses
import uuid
from typing import Any

from api.settings import Settings
from cli.local import postgres
from db.engine import upgrade
from db.settings import local_url
from streams.topics import create_topics


def fresh_database(settings: Settings, prefix: str) -> Settings:
    """A new, migrated database ``<prefix>_<random>`` on the local cluster, and settings that use it."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    postgres.create_database(settings, name, fresh=True)
    url = local_url(settings.database.local_pg_port, name)
    upgrade(url)
    return dataclasses.replace(settings, database=settings.database.model_copy(update={"database_url": url}))


def drop_database(settings: Settings) -> None:
    """Drop the local database that ``settings`` use (one ``fresh_database`` made)."""
    postgres.drop_database(settings, settings.database.url.rsplit("/", 1)[1])


def fresh_topics(settings: Settings, prefix: str, **kafka: Any) -> Settings:
    """The platform's topics under a new prefix ``<prefix><random>.``; ``kafka`` overrides broker settings."""
    changed = settings.kafka.model_copy(update={"topic_prefix": f"{prefix}{uuid.uuid4().hex[:8]}.", **kafka})
    create_topics(changed)
    return dataclasses.replace(settings, kafka=changed)
