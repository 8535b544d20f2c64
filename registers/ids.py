"""Citizen ID numbers (GB 11643-1999) and phone numbers: checked, and shown masked."""

import operator
import re
from datetime import date
from typing import Any

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"  # by the weighted sum modulo 11
# What is wrong with a value: a message key (the catalogue's ``msg.<key>``) and its values.
Wrong = tuple[str, dict[str, Any]]
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


def check_digit(first17: str) -> str:
    """The 18th character of an ID number whose first 17 digits are ``first17``."""
    return CHECK_CHARACTERS[sum(map(operator.mul, map(int, first17), WEIGHTS)) % 11]


def normalise_id(value: str) -> str:
    """An ID number as stored and searched: no spaces, a capital X."""
    return value.strip().replace(" ", "").upper()


def id_problem(value: str) -> Wrong | None:
    """What is wrong with an ID number (normalised) as a message key and values, or None when it is valid."""
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return "field.id_shape", {}
    if birth_date(value) is None:
        return "field.id_birth", {"digits": value[6:14]}
    expected = check_digit(value[:17])
    if value[17] != expected:
        return "field.id_check", {"expected": expected, "found": value[17]}
    return None


def birth_date(value: str) -> date | None:
    """The birth date an ID number carries, or None if it holds none."""
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def phone_problem(value: str) -> Wrong | None:
    """What is wrong with a phone number (a message key and values), or None."""
    if PHONE.fullmatch(value):
        return None
    return "field.phone", {}


def age_band(born: date, today: date) -> str:
    """The ten-year band of an age, as ``80-89``: what a role that sees masked numbers is shown instead of the date.

    The masked ID number keeps the region code and the last four digits; the eight hidden ones
    are the birth date, so the date (or the year) beside it would give the whole number away.
    A band of ten years leaves about 3,650 dates, some 330 of them with a valid check digit.
    """
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    low = max(0, age) // 10 * 10
    return f"{low}-{low + 9}"


def mask_id(value: str) -> str:
    """An ID number as everyone but its grid's staff sees it: 321111********1234."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """A phone number masked: 138****8000."""
    return value[:3] + "*" * (len(value) - 7) + value[-4:]
