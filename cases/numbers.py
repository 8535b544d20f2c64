"""Case numbers (案卷编号): what a person reads aloud, types and searches for, e.g. ``321111-20261206-0017``.

A number is the case's district code, the day it was reported in the city's zone and that day's
serial in the district, four digits at least. Numbers are unique; a serial may skip one where a
batch was written twice (a retry after a fault): the serials are reserved before the cases are.
"""

import re
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from cases.rules import RULES_FILE, load_rules
from cases.settings import SlaSettings

NO_DISTRICT = "000000"  # the region of a case outside every district
NUMBER = r"\d{6}-\d{8}-\d{4,6}"  # as a pattern: what a route accepts where it takes a case
NUMBER_RE = re.compile(NUMBER)
CASE_REF = rf"^([0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}|{NUMBER})$"
Day = tuple[str, date]  # a district and a day

_RESERVE = """
INSERT INTO case_serial AS s (region, day, last)
SELECT * FROM unnest(CAST(:regions AS varchar[]), CAST(:days AS date[]), CAST(:counts AS int[]))
ON CONFLICT (region, day) DO UPDATE SET last = s.last + excluded.last
RETURNING region, day, last
"""


def case_id_of(engine: Engine, ref: str) -> uuid.UUID | None:
    """The id of the case ``ref`` names: an id as it is, a number looked up (None: no case has it)."""
    if not NUMBER_RE.fullmatch(ref):
        return uuid.UUID(ref)
    with engine.connect() as conn:
        found = conn.execute(text('SELECT id FROM "case" WHERE number = :n'), {"n": ref}).scalar_one_or_none()
    return found if isinstance(found, uuid.UUID) else None


def case_number(region: str | None, day: date, serial: int) -> str:
    """The number of the ``serial``-th case of ``region`` reported on ``day``."""
    return f"{region or NO_DISTRICT}-{day:%Y%m%d}-{serial:04d}"


@cache
def city_zone() -> ZoneInfo:
    """The city's zone, from the rules file this deployment uses (the day a number names)."""
    path = SlaSettings().sla_rules_file
    return load_rules(Path(path) if path else RULES_FILE).calendar.tz


def reserve_numbers(engine: Engine, reported: Iterable[tuple[str | None, datetime]], zone: ZoneInfo) -> list[str]:
    """Numbers for cases reported in ``(district, moment)`` order, reserved in a transaction of their own.

    Held only for that short transaction, so writers of the same district do not wait on each other's
    batches. Districts are taken in order (two writers lock them alike: no deadlock).
    """
    keys: list[Day] = [(region or NO_DISTRICT, moment.astimezone(zone).date()) for region, moment in reported]
    if not keys:
        return []
    wanted = Counter(keys)
    order = sorted(wanted)
    with engine.begin() as conn:
        rows = conn.execute(
            text(_RESERVE),
            {"regions": [r for r, _ in order], "days": [d for _, d in order], "counts": [wanted[k] for k in order]},
        ).all()
    next_serial = {(r.region, r.day): r.last - wanted[(r.region, r.day)] + 1 for r in rows}
    numbers = []
    for key in keys:
        numbers.append(case_number(key[0], key[1], next_serial[key]))
        next_serial[key] += 1
    return numbers
