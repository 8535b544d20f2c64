"""Server and command-line messages: every key the code raises is worded in every language, with its values."""

import ast
import string
from pathlib import Path

import pytest

from api.errors import KINDS, WORDED_TYPES, Refusal
from web.messages import language, said, say
from web.templating import LANGUAGES, labels

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "cases", "registers", "cli", "web", "db", "streams")
# Calls whose first string argument is a whole message key, and how keys are built from a part of one.
WHOLE_KEY = {"Refusal", "CaseError", "FileProblem", "ReportError", "tell", "fail", "say", "Stale"}
PART_KEY = {
    "NotAllowed": "conflict.",
    "AppealRefused": "conflict.appeal_",
    "NotYourDecision": "conflict.appeal_decision_",
    "ReasonRequired": "invalid_input.",
}
# Calls whose second string argument is a field problem's key: problem(field, key), Problem(line, field, key).
PROBLEM_KEY = {"problem": 1, "Problem": 2}


def _name(call: ast.Call) -> str:
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")


def _raised() -> list[tuple[str, str, set[str] | None]]:
    """Each message key the code names, where, and the values it passes (None: passed on with ``**``)."""
    found: list[tuple[str, str, set[str] | None]] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name, args = _name(node), node.args
                position = PROBLEM_KEY.get(name, 0)
                if name not in WHOLE_KEY | set(PART_KEY) | set(PROBLEM_KEY) or len(args) <= position:
                    continue
                key = args[position]
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    continue
                passed = None if any(k.arg is None for k in node.keywords) else {str(k.arg) for k in node.keywords}
                if name == "Problem":  # Problem(line, field, key, {values})
                    values = args[3] if len(args) > 3 else ast.Dict(keys=[], values=[])
                    literal = isinstance(values, ast.Dict) and all(isinstance(k, ast.Constant) for k in values.keys)
                    passed = {str(k.value) for k in values.keys if isinstance(k, ast.Constant)} if literal else None
                if name in PART_KEY and passed is not None:  # NotAllowed(key, action, allowed), ReasonRequired(…)
                    passed |= {"action", "allowed"}
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.append((PART_KEY.get(name, "") + key.value, where, passed))
    return found


def _fields(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_key_the_code_names_is_worded_in_every_language_with_the_values_it_is_given() -> None:
    raised = _raised()
    assert len(raised) > 150  # the scan sees the code's messages
    missing = [f"{where} {key}" for key, where, _ in raised for lang in LANGUAGES if f"msg.{key}" not in labels(lang)]
    assert missing == []
    unfilled = [
        f"{where} {key}: {sorted(_fields(labels('zh')[f'msg.{key}']) - passed - {'summary'})}"
        for key, where, passed in raised
        if passed is not None and _fields(labels("zh")[f"msg.{key}"]) - passed - {"summary"}
    ]
    assert unfilled == []


def test_each_message_uses_the_same_values_in_every_language() -> None:
    keys = [k for k in labels("zh") if k.startswith("msg.")]
    different = [k for k in keys if _fields(labels("zh")[k]) != _fields(labels("en")[k])]
    assert keys and different == []


def test_every_kind_of_refusal_and_every_worded_validation_type_has_words() -> None:
    named = {key.split(".")[0] for key, _, _ in _raised() if key.split(".")[0] in KINDS}
    assert named == set(KINDS)
    assert sorted(t for t in WORDED_TYPES if f"msg.field.{t}" not in labels("zh")) == []


def test_a_refusal_is_worded_in_the_language_asked_for() -> None:
    refused = Refusal("conflict.action", action="resolve", state="dispatched", allowed=["accept", "decline"])
    assert refused.status_code == 409 and refused.kind == "conflict"
    assert refused.worded("zh")[0] == "案件处于「待签收」，不能办结；可办：签收、退件"
    assert refused.worded("en")[0] == "cannot resolve a case that is dispatched; allowed: accept, decline"
    assert str(refused) == refused.worded("en")[0]  # logs and tests read English
    many = Refusal(
        "invalid_input.fields", [{"field": "note", "key": "field.string_too_long", "values": {"max_length": 2000}}], n=1
    )
    assert many.worded("zh") == ("1 处填写有误：note: 最多 2000 字", [{"field": "note", "problem": "最多 2000 字"}])
    assert Refusal("unauthorized.none").headers == {"WWW-Authenticate": "Bearer"}


def test_words_of_a_vocabulary_lists_and_messages_within_messages() -> None:
    assert say("conflict.used_up", "zh", {"action": "extend", "request": "extension", "used": 2}) == (
        "不能申请延期：本案已获批延期 2 次，已达上限"
    )
    line = {
        "key": "report.problem",
        "values": {
            "line": 3,
            "field": "id_number",
            "problem": {"key": "field.id_check", "values": {"expected": "2", "found": "6"}},
        },
    }
    assert said(line, "zh") == "第 3 行，id_number：校验码应为 2，而不是 6：有数字录错"
    assert said(line, "en") == "line 3, id_number: the check digit should be 2, not 6: a digit is mistyped"
    assert say("no.such.key", "zh", {"a": 1}) == "no.such.key a=1"  # never a 500 for a missing sentence


@pytest.mark.parametrize(
    ("header", "asked", "expected"),
    [
        (None, None, "zh"),
        ("en-US,en;q=0.9", None, "en"),
        ("fr-FR,en;q=0.5,zh-CN;q=0.8", None, "zh"),
        ("en;q=0, zh;q=0.1", None, "zh"),
        ("de", None, "zh"),
        ("en", "zh", "zh"),
        ("zh", "xx", "zh"),
        ("en;q=abc", None, "zh"),
        ("," * 5000 + "en", None, "zh"),  # only the first 512 characters are read
    ],
)
def test_the_language_comes_from_the_query_then_accept_language_then_zh(
    header: str | None, asked: str | None, expected: str
) -> None:
    assert language(header, asked) == expected


def test_the_command_lines_built_keys_are_worded() -> None:
    built = {
        "cli.findings_": ("severity", "check", "codes", "area", "where", "message"),
        "cli.severity_": ("error", "warning", "info"),
        "cli.services_": ("service", "address", "health", "managed", "detail"),
        "cli.users_": ("username", "role", "scope", "disabled"),
    }
    keys = [f"msg.{prefix}{part}" for prefix, parts in built.items() for part in parts]
    assert [(lang, k) for k in keys for lang in LANGUAGES if k not in labels(lang)] == []
