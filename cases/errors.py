"""Errors of the case domain: a message key (its first part the kind of refusal) and values.

The catalogue words each key (``msg.<key>`` in web/translations); the API's table of kinds gives the status.
"""

from typing import Any


class CaseError(Exception):
    """Base of the case domain's errors: a message key, its values, and details for the caller."""

    def __init__(self, key: str, detail: Any = None, **values: Any) -> None:
        super().__init__(f"{key}: {values}" if values else key)
        self.key, self.values, self.detail = key, values, detail


class CaseNotFound(CaseError, LookupError):
    """No case with that id."""

    def __init__(self, case_id: str) -> None:
        super().__init__("not_found.case", case=case_id)


class NotAllowed(CaseError):
    """The action does not apply to the case as it is (``key`` says why); ``allowed`` lists what does."""

    def __init__(self, key: str, action: str, allowed: list[str], **values: Any) -> None:
        super().__init__(f"conflict.{key}", {"allowed": allowed}, action=action, allowed=allowed, **values)
        self.allowed = allowed


class ReasonRequired(CaseError):
    """Extension, suspension and refusals must say why; an extension or suspension how long."""

    def __init__(self, key: str, field: str, **values: Any) -> None:
        problem = {"field": field, "key": f"invalid_input.{key}", "values": values}
        super().__init__(f"invalid_input.{key}", [problem], **values)


class InvalidLength(CaseError):
    """The length an extension or suspension asks for cannot be read on the case's clock."""

    def __init__(self, length: str) -> None:
        problem = {"field": "length", "key": "invalid_input.length", "values": {"length": length}}
        super().__init__("invalid_input.length", [problem], length=length)
