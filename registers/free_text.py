"""Personal numbers in free text (pure): ID numbers, mobile and landline numbers and plates, found and masked.

A description or a note may carry what the registers seal: ``居民 990100199110100017 电话 17000000001``.
``masked`` finds each such number and masks it as the registers do (ID 990100********0017, phone
170****0001, plate 苏L***45); the caller seals the original text (``SEALED_TEXT``) for the few who
may read it unmasked. An 18-character number counts as an ID number only when its check digit is
right, so order numbers and codes pass untouched; a landline needs its area code and a dash.
"""

import re

from registers.ids import id_problem, mask_id, mask_phone
from registers.protect import Protector

SEALED_TEXT = "free_text"  # the associated data of a sealed original text (registers.protect)
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_NUMBERS = re.compile(
    r"(?<![0-9A-Za-z])(?P<id>\d{17}[\dXx])(?![0-9A-Za-z])"
    r"|(?<!\d)(?P<mobile>1[3-9]\d{9})(?!\d)"
    r"|(?<![\d-])(?P<landline>0\d{2,3}-\d{7,8})(?![\d-])"
    rf"|(?P<plate>[{_PROVINCES}][A-HJ-NP-Z]·?[A-HJ-NP-Z0-9]{{5,6}})(?![A-Za-z0-9])"
)


def _mask(found: re.Match[str]) -> str:
    value = found.group()
    kind = found.lastgroup
    if kind == "id":
        return mask_id(value) if id_problem(value.upper()) is None else value
    if kind == "plate":
        return value[:2] + "*" * (len(value) - 4) + value[-2:]
    return mask_phone(value)


def masked(text: str) -> str:
    """``text`` with every personal number in it masked (the same text when it holds none)."""
    return _NUMBERS.sub(_mask, text) if text else text


def protect(text: str, protector: Protector) -> tuple[str, bytes | None]:
    """``text`` masked, and the original sealed when it held a personal number (None when it held none)."""
    shown = masked(text)
    return shown, (protector.seal(text, SEALED_TEXT) if shown != text else None)
