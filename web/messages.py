"""What the platform says to people outside a page: a message key and its values, worded by the catalogue.

The rooms below raise errors and write reports as a key (``not_found.case``) and values (``case=…``);
the catalogue of each language holds the sentence under ``msg.<key>``, with ``{value}`` fields. Values
named for a vocabulary (an action, a state, a level) are shown as its word; lists are joined the
language's way.
"""

import re
from collections.abc import Mapping
from typing import Any

from web.templating import LANGUAGES, labels

DEFAULT_LANGUAGE = "zh"
# Values of these names are words of a vocabulary: their catalogue key's prefix.
VOCABULARIES = {
    "action": "act_",
    "allowed": "act_",
    "state": "st_",
    "level": "lv_",
    "role": "role_",
    "request": "req_",
    "kind": "kind_",
    "stage": "stage_",
}
_LIST_JOINS = {"zh": "、", "en": ", "}
_TAG = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?\s*$")


def language(accept_language: str | None, asked: str | None = None) -> str:
    """The language to answer in: ``asked`` if it is one of ours, else the best of ``Accept-Language``, else zh."""
    if asked in LANGUAGES:
        return str(asked)
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "")[:512].split(",")):
        found = _TAG.match(part)
        if found is None:
            continue
        try:
            weight = float(found.group(2) or 1)
        except ValueError:
            continue
        if found.group(1).lower() in LANGUAGES and weight > 0:
            ranked.append((-weight, position, found.group(1).lower()))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


def say(key: str, lang: str = DEFAULT_LANGUAGE, values: Mapping[str, Any] | None = None) -> str:
    """The sentence for ``key`` in ``lang`` with ``values`` filled in (the English one if ``lang`` lacks it)."""
    words = labels(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    template = words.get(f"msg.{key}") or labels("en").get(f"msg.{key}")
    shown = {name: _shown(name, value, words, lang) for name, value in (values or {}).items()}
    if template is None:  # a key without a sentence: tests/test_catalogues.py keeps this from shipping
        return " ".join([key, *(f"{k}={v}" for k, v in shown.items())])
    return template.format_map(shown)


def said(message: Mapping[str, Any], lang: str = DEFAULT_LANGUAGE) -> str:
    """A message given as ``{"key": …, "values": {…}}`` (how the rooms below hand over reports) worded."""
    return say(str(message["key"]), lang, message.get("values"))


def _shown(name: str, value: Any, words: Mapping[str, str], lang: str) -> Any:
    if isinstance(value, Mapping) and "key" in value:  # a message within a message
        return said(value, lang)
    prefix = VOCABULARIES.get(name)
    if isinstance(value, list | tuple):
        return _LIST_JOINS.get(lang, ", ").join(str(_shown(name, v, words, lang)) for v in value)
    if prefix is not None and isinstance(value, str) and lang != "en":  # in English the codes are the words
        return words.get(prefix + value, value)
    return value
