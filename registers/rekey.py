"""A key rotation: every sealed number and text re-sealed under the current key, in batches, resumably.

Run while the platform serves: the API holds the old key too (``GRIDGOV_PII_OLD_KEYS``), so each value
opens whether or not its batch is done. A batch re-seals what its rows hold under an old key and
commits; a value already under the current key is counted and left, so a stopped run is simply run
again. ID numbers get their search hash under the current key in the same update.
"""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, text

from registers.changes import sealed_person
from registers.free_text import SEALED_TEXT
from registers.protect import Protector
from registers.store import ID_COLUMN, PHONE_COLUMN

BATCH = 1000
Progress = Callable[[str, int], None]  # what (people, texts), rows looked at so far


@dataclass
class Rekeyed:
    """What a run did: values re-sealed, and values found already under the current key."""

    resealed: int = 0
    current: int = 0


def rekey(engine: Engine, protector: Protector, batch: int = BATCH, progress: Progress | None = None) -> Rekeyed:
    """Re-seal people's ID and phone numbers and the sealed texts under ``protector``'s current key."""
    done = Rekeyed()
    _people(engine, protector, batch, done, progress)
    _texts(engine, protector, batch, done, progress)
    _proposals(engine, protector, done)
    return done


def _proposals(engine: Engine, protector: Protector, done: Rekeyed) -> None:
    """The numbers of people proposed but not yet approved (``register_change``), few at any time."""
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT id, details FROM register_change WHERE state = 'proposed' AND details ? 'id_sealed' FOR UPDATE"
            )
        ).all()
        for r in rows:
            details = dict(r.details)
            sealed = base64.b64decode(details["id_sealed"])
            if protector.is_current(sealed, ID_COLUMN):
                done.current += 1
                continue
            number = protector.open(sealed, ID_COLUMN)
            phone = base64.b64decode(details["phone_sealed"]) if details.get("phone_sealed") else None
            details |= sealed_person(protector, number, protector.open(phone, PHONE_COLUMN) if phone else None)
            conn.execute(
                text("UPDATE register_change SET details = CAST(:d AS jsonb) WHERE id = :id"),
                {"d": json.dumps(details, ensure_ascii=False), "id": r.id},
            )
            done.resealed += 1


def _people(engine: Engine, protector: Protector, batch: int, done: Rekeyed, progress: Progress | None) -> None:
    after, seen = 0, 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, id_sealed, phone_sealed FROM person WHERE id > :after ORDER BY id LIMIT :n FOR UPDATE"
                ),
                {"after": after, "n": batch},
            ).all()
            if not rows:
                return
            changed = []
            for r in rows:
                phone = bytes(r.phone_sealed) if r.phone_sealed is not None else None
                if protector.is_current(bytes(r.id_sealed), ID_COLUMN) and (
                    phone is None or protector.is_current(phone, PHONE_COLUMN)
                ):
                    done.current += 1
                    continue
                number = protector.open(bytes(r.id_sealed), ID_COLUMN)
                changed.append(
                    {
                        "id": r.id,
                        "sealed": protector.seal(number, ID_COLUMN),
                        "hash": protector.search_hash(number),
                        "phone": None
                        if phone is None
                        else protector.seal(protector.open(phone, PHONE_COLUMN), PHONE_COLUMN),
                    }
                )
            if changed:
                conn.execute(
                    text(
                        "UPDATE person SET id_sealed = :sealed, id_hash = :hash, phone_sealed = :phone WHERE id = :id"
                    ),
                    changed,
                )
            done.resealed += len(changed)
            after, seen = rows[-1].id, seen + len(rows)
        if progress:
            progress("people", seen)


def _texts(engine: Engine, protector: Protector, batch: int, done: Rekeyed, progress: Progress | None) -> None:
    after, seen = ("", ""), 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                text(
                    "SELECT source, ref, sealed FROM sealed_text WHERE (source, ref) > (:source, :ref)"
                    " ORDER BY source, ref LIMIT :n FOR UPDATE"
                ),
                {"source": after[0], "ref": after[1], "n": batch},
            ).all()
            if not rows:
                return
            changed = [
                {
                    "source": r.source,
                    "ref": r.ref,
                    "sealed": protector.seal(protector.open(bytes(r.sealed), SEALED_TEXT), SEALED_TEXT),
                }
                for r in rows
                if not protector.is_current(bytes(r.sealed), SEALED_TEXT)
            ]
            if changed:
                conn.execute(
                    text("UPDATE sealed_text SET sealed = :sealed WHERE source = :source AND ref = :ref"), changed
                )
            done.resealed += len(changed)
            done.current += len(rows) - len(changed)
            after, seen = (rows[-1].source, rows[-1].ref), seen + len(rows)
        if progress:
            progress("texts", seen)
