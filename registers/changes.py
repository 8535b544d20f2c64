"""Everyday changes to the register: people added, moved, gone and tagged; households split and merged.

A change is a row of ``register_change``: proposed by a gridworker for their own grid and applied when the
community's supervisor approves it, or applied at once when that supervisor makes it. Applying checks the
register again (a person may have left since the proposal): what no longer fits is a ``Stale`` change.
A household's member count and tags (and so its visit cadence) follow its people.
"""

import base64
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, text

from registers.ids import birth_date, mask_id, mask_phone
from registers.protect import Protector
from registers.store import ID_COLUMN, PHONE_COLUMN, recount


class Change(StrEnum):
    """What a change does."""

    ADD = "add_person"
    MOVE = "move_person"
    LEAVE = "leave"
    TAGS = "tags"
    SPLIT = "split"
    MERGE = "merge"


class Stale(Exception):
    """A change that no longer fits the register (``key``: its message, ``values`` for the wording)."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key, self.values = key, values


@dataclass(frozen=True)
class Place:
    """Where a change is made: the grid (who may propose and approve), the household and the person."""

    grid: str
    household: str | None
    person: int | None


def sealed_person(protector: Protector, id_number: str, phone: str | None) -> dict[str, Any]:
    """A new person's numbers as a proposal keeps them: sealed, masked and hashed, never in clear."""
    born = birth_date(id_number)
    return {
        "id_hash": protector.search_hash(id_number),
        "id_sealed": base64.b64encode(protector.seal(id_number, ID_COLUMN)).decode(),
        "id_masked": mask_id(id_number),
        "phone_sealed": base64.b64encode(protector.seal(phone, PHONE_COLUMN)).decode() if phone else None,
        "phone_masked": mask_phone(phone) if phone else None,
        "birth_date": born.isoformat() if born else None,
    }


def _household(conn: Connection, household: str) -> Any:
    row = conn.execute(
        text("SELECT id, grid_code, building_code FROM household WHERE id = :id"), {"id": household}
    ).one_or_none()
    if row is None:
        raise Stale("field.no_household", household=household)
    return row


def _person(conn: Connection, person: int) -> Any:
    row = conn.execute(
        text(
            "SELECT p.id, p.household_id, h.grid_code FROM person p JOIN household h ON h.id = p.household_id"
            " WHERE p.id = :id"
        ),
        {"id": person},
    ).one_or_none()
    if row is None:
        raise Stale("field.no_person", person=person)
    return row


def place_of(conn: Connection, kind: Change, details: dict[str, Any]) -> Place:
    """Where a change would be made; ``Stale`` when its household or person is not in the register."""
    if kind in (Change.ADD, Change.SPLIT, Change.MERGE):
        row = _household(conn, details["household"])
        return Place(row.grid_code, row.id, None)
    row = _person(conn, details["person"])
    return Place(row.grid_code, row.household_id, row.id)


def targets(conn: Connection, kind: Change, details: dict[str, Any]) -> list[str]:
    """The grids a change reaches besides its own: where a move, a split or a merge leads."""
    if kind is Change.MERGE:
        return [_household(conn, details["into"]).grid_code]
    if kind in (Change.MOVE, Change.SPLIT):
        into = details["into"]
        building = into.split("-")[0]
        grid = conn.execute(text("SELECT grid_code FROM building WHERE code = :c"), {"c": building}).scalar()
        if grid is None:
            raise Stale("field.no_building", building=building)
        return [grid]
    return []


def _new_household(conn: Connection, household: str, registered_on: date) -> None:
    """Make household ``building-unit-room`` if the register lacks it, at its building's grid."""
    building, unit, room = household.split("-")
    address = "" if unit == "0" else f"{unit}单元"
    conn.execute(
        text(
            "INSERT INTO household (id, building_code, unit, room, address, grid_code, registered_on)"
            " SELECT :id, b.code, :unit, :room, b.name || :address, b.grid_code, :day FROM building b"
            " WHERE b.code = :building ON CONFLICT (id) DO NOTHING"
        ),
        {"id": household, "building": building, "unit": unit, "room": room, "address": f"{address}{room}室",
         "day": registered_on},
    )  # fmt: skip


def apply(conn: Connection, kind: Change, details: dict[str, Any], today: date) -> dict[str, Any]:
    """Make the change in the caller's transaction; what it did (the people it touched, a new person's id)."""
    touched: set[str] = set()
    people: list[int] = []
    if kind is Change.ADD:
        household = _household(conn, details["household"]).id
        if conn.execute(text("SELECT 1 FROM person WHERE id_hash = :h"), {"h": details["id_hash"]}).first():
            raise Stale("field.person_exists")
        new = conn.execute(
            text(
                "INSERT INTO person (household_id, name, id_hash, id_sealed, id_masked, phone_sealed, phone_masked,"
                " birth_date, relation, tags) VALUES (:household, :name, :id_hash, :id_sealed, :id_masked,"
                " :phone_sealed, :phone_masked, :birth_date, :relation, :tags) RETURNING id"
            ),
            details
            | {
                "household": household,
                "id_sealed": base64.b64decode(details["id_sealed"]),
                "phone_sealed": base64.b64decode(details["phone_sealed"]) if details["phone_sealed"] else None,
                "birth_date": date.fromisoformat(details["birth_date"]),
            },
        ).scalar_one()
        touched.add(household)
        people.append(new)
    elif kind is Change.MOVE:
        person = _person(conn, details["person"])
        _new_household(conn, details["into"], today)
        conn.execute(
            text("UPDATE person SET household_id = :to, updated_at = now() WHERE id = :id"),
            {"to": details["into"], "id": person.id},
        )
        touched |= {person.household_id, details["into"]}
        people.append(person.id)
    elif kind is Change.LEAVE:
        person = _person(conn, details["person"])
        conn.execute(text("DELETE FROM person WHERE id = :id"), {"id": person.id})
        touched.add(person.household_id)
        people.append(person.id)
    elif kind is Change.TAGS:
        person = _person(conn, details["person"])
        conn.execute(
            text("UPDATE person SET tags = :tags, updated_at = now() WHERE id = :id"),
            {"tags": sorted(set(details["tags"])), "id": person.id},
        )
        touched.add(person.household_id)
        people.append(person.id)
    else:
        source = _household(conn, details["household"]).id
        into = details["into"]
        if into == source:
            raise Stale("field.same_household")
        if kind is Change.SPLIT:
            _new_household(conn, into, today)
            moving = [int(p) for p in details["people"]]
        else:
            _household(conn, into)
            moving = list(conn.execute(text("SELECT id FROM person WHERE household_id = :h"), {"h": source}).scalars())
        moved = (
            conn.execute(
                text(
                    "UPDATE person SET household_id = :to, updated_at = now()"
                    " WHERE id = ANY(:ids) AND household_id = :from RETURNING id"
                ),
                {"to": into, "ids": moving, "from": source},
            )
            .scalars()
            .all()
        )
        if len(moved) != len(moving):
            raise Stale("field.not_members", household=source)
        touched |= {source, into}
        people.extend(moved)
    recount(conn, sorted(touched))
    return {"people": people, "households": sorted(touched)}
