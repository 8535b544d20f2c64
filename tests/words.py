"""How the tests read a message a room below the API hands over as a key and values: in English."""

from typing import Any

from web.messages import say


def english(error: Any) -> str:
    """The English words of an error (or a ``(key, values)`` pair) that carries a message key."""
    if isinstance(error, tuple):
        return say(error[0], "en", error[1])
    return say(error.key, "en", error.values)
