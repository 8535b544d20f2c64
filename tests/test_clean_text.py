"""Text is clean where it enters: control characters, NUL and direction overrides are refused, naming the field."""

import json

import pytest
from pydantic import ValidationError

from api.cases import TransitionIn
from api.users import UserIn
from db.cells import bad_character
from registers.rows import check_people, columns
from streams.schema import Event
from tests.pipeline_fixtures import event_body
from tests.words import english

BAD = {
    "ESC": "李\x1b[31m四",
    "NUL": "李\x00四",
    "RLO": "gw\u202e1",  # right-to-left override: shows as "1wg"
    "LRI": "a\u2066b",
    "DEL": "a\x7fb",
    "C1": "a\x85b",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_no_text_holds_it(name: str) -> None:
    assert bad_character(BAD[name]) and bad_character(BAD[name], multi_line=True)


def test_multi_line_text_keeps_its_tabs_and_line_ends() -> None:
    assert bad_character("第一行\r\n第二行\t完", multi_line=True) is None
    character, at = bad_character("第一行\n第二行") or ("", 0)
    assert (
        english(("field.bad_character", {"character": character, "at": at}))
        == "holds U+000A (a control character or direction override) at character 4; retype it"
    )


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_body_with_it_is_refused_naming_the_field(name: str) -> None:
    with pytest.raises(ValidationError) as refused:
        TransitionIn.model_validate({"action": "dispatch", "assignee": BAD[name]})
    assert [e["loc"] for e in refused.value.errors()] == [("assignee",)]
    with pytest.raises(ValidationError) as refused:
        TransitionIn.model_validate({"action": "decline", "note": BAD[name]})
    assert [e["loc"] for e in refused.value.errors()] == [("note",)]
    with pytest.raises(ValidationError) as refused:
        Event.model_validate_json(json.dumps(event_body(119.45, 32.2) | {"description": BAD[name]}))
    assert [e["loc"] for e in refused.value.errors()] == [("description",)]
    with pytest.raises(ValidationError) as refused:
        UserIn.model_validate({"username": "u-1", "password": "x" * 12, "role": "department", "scope": BAD[name]})
    assert ("scope",) in [e["loc"] for e in refused.value.errors()]


def test_a_note_on_several_lines_is_taken() -> None:
    assert (
        TransitionIn.model_validate({"action": "decline", "note": "不属于本单位\n请改派"}).note
        == "不属于本单位\n请改派"
    )


@pytest.mark.parametrize("name", sorted(BAD))
def test_an_import_row_with_it_names_the_line_and_the_field(name: str) -> None:
    header = ["name", "id_number", "relation", "building", "room"]
    at, problems = columns("people", header)
    assert problems == []
    rows = [(2, [BAD[name], "110101194110202704", "户主", "B1", "101"])]
    good, problems = check_people(rows, at, {"B1"}, set())
    assert good == []
    assert [(p.line, p.field) for p in problems if p.key == "field.bad_character"] == [(2, "name")]
