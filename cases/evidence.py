"""The proof a resolution needs: an "after" photo for the categories the rules name (a domain rule)."""

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, text

from cases.errors import CaseError
from cases.rules import Rules


class AfterPhotoRequired(CaseError):
    """The case's category is resolved with an "after" photo, and the case has none yet."""

    def __init__(self, case_id: Any, category: str) -> None:
        super().__init__(
            "conflict.after_photo", {"allowed": ["upload an after photo"]}, case=str(case_id), category=category
        )


def after_photo_rule(rules: Rules) -> Callable[[Connection, Any], None]:
    """A transition check: resolving a case whose category needs proof requires an "after" photo."""

    def check(conn: Connection, case: Any) -> None:
        if not rules.needs_after_photo(case.category):
            return
        found = conn.execute(
            text("SELECT 1 FROM photo WHERE event_id = :id AND stage = 'after' LIMIT 1"), {"id": case.id}
        ).first()
        if found is None:
            raise AfterPhotoRequired(case.id, case.category)

    return check
