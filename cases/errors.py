"""Errors of the case domain; the API's error table gives each its HTTP status."""

from typing import Any


class CaseError(Exception):
    """Base of the case domain's errors: a message safe to show, and details for the caller."""

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class CaseNotFound(CaseError, LookupError):
    """No case with that id."""

    def __init__(self, case_id: str) -> None:
        super().__init__(f"no case {case_id}")


class NotAllowed(CaseError):
    """The action does not apply to the case as it is; ``allowed`` lists what does."""

    def __init__(self, action: str, state: str, allowed: list[str]) -> None:
        super().__init__(f"cannot {action} a case that is {state}; allowed: {', '.join(allowed)}", {"allowed": allowed})
        self.allowed = allowed


class ReasonRequired(CaseError):
    """Extension and suspension must say why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, [{"field": "note", "problem": message}])


class InvalidLength(CaseError):
    """The length an extension or suspension asks for cannot be read on the case's clock."""

    def __init__(self, message: str) -> None:
        super().__init__(message, [{"field": "length", "problem": message}])
