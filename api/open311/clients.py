"""Open311 client systems: the API keys that may post requests (only their hashes are kept)."""

import hashlib
import secrets

from sqlalchemy import Connection, Engine, text

from api.errors import Refusal


def client_of(conn: Connection, api_key: str) -> str:
    """The client an API key belongs to; 403 otherwise."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    name = conn.execute(
        text("SELECT name FROM api_client WHERE key_sha256 = :k AND NOT disabled"), {"k": digest}
    ).scalar_one_or_none()
    if name is None:
        raise Refusal("forbidden.api_key")
    return str(name)


def add_client(engine: Engine, name: str) -> str:
    """Register a client system; returns its new API key (only its hash is kept)."""
    key = secrets.token_urlsafe(24)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO api_client (name, key_sha256) VALUES (:n, :k)"
                " ON CONFLICT (name) DO UPDATE SET key_sha256 = excluded.key_sha256, disabled = false"
            ),
            {"n": name, "k": hashlib.sha256(key.encode()).hexdigest()},
        )
    return key
