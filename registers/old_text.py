"""Descriptions and notes stored before free text was masked: masked now, each original sealed.

Run after the migrations by ``gridgov db upgrade`` (and ``make run``), from the top, since it needs
the key: each event description and transition note holding an ID, phone or plate number is
masked in place and its original sealed in ``sealed_text``, as ``registers.free_text`` does for
new text; an Open311 request's copy of its description is masked. A masked text holds no number
the scan finds, so a second run changes nothing. Only rows a cheap pattern flags are read.
"""

from sqlalchemy import Engine, text

from registers.free_text import masked, protect
from registers.protect import Protector

# Only these rows can hold a number worth masking (the rest are never read into Python).
_MAYBE = "[0-9]{7,}|[0-9]{3,4}-[0-9]{7,8}|[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Z]"
_TEXTS = (
    ("description", "SELECT id::text AS ref, description AS body FROM event WHERE description ~ :maybe",
     "UPDATE event SET description = :body WHERE id = CAST(:ref AS uuid)"),
    ("note", "SELECT case_id::text || ':' || seq AS ref, note AS body FROM case_transition WHERE note ~ :maybe",
     "UPDATE case_transition SET note = :body WHERE case_id = CAST(split_part(:ref, ':', 1) AS uuid)"
     " AND seq = CAST(split_part(:ref, ':', 2) AS int)"),
)  # fmt: skip


def seal_old_text(engine: Engine, protector: Protector) -> dict[str, int]:
    """Mask and seal what was stored before; how many descriptions and notes it changed."""
    changed = {"description": 0, "note": 0}
    with engine.begin() as conn:
        for source, select, update in _TEXTS:
            for row in conn.execute(text(select), {"maybe": _MAYBE}).all():
                shown, sealed = protect(row.body, protector)
                if sealed is None:
                    continue
                conn.execute(text(update), {"body": shown, "ref": row.ref})
                conn.execute(
                    text("INSERT INTO sealed_text (source, ref, sealed) VALUES (:s, :r, :sealed)"),
                    {"s": source, "r": row.ref, "sealed": sealed},
                )
                changed[source] += 1
        requests = conn.execute(
            text("SELECT id, description FROM open311_request WHERE description ~ :maybe"), {"maybe": _MAYBE}
        ).all()
        for row in requests:
            if masked(row.description) != row.description:
                conn.execute(
                    text("UPDATE open311_request SET description = :d WHERE id = :id"),
                    {"d": masked(row.description), "id": row.id},
                )
    return changed
