"""The pure parts of the registers: ID check digits, masking, visit cadence, due dates and coverage."""

from datetime import date
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from registers.cadence import (
    Cadence,
    VisitRulesError,
    coverage,
    due_by,
    load_visit_rules,
    period_of,
    status,
)
from registers.ids import check_digit, id_problem, mask_id, mask_phone, phone_problem
from registers.protect import Protector
from registers.rows import columns, split_tags
from tests.words import english

M, Q = Cadence.MONTHLY, Cadence.QUARTERLY


def test_the_check_digit_is_the_weighted_sum_modulo_11() -> None:
    # 1·7+1·9+0·10+1·5+0·8+5·4+1·2+9·1+4·6+9·3+1·7+2·9+3·10+1·5+0·8+0·4+2·2 = 167; 167 mod 11 = 2 → X
    assert check_digit("11010519491231002") == "X"
    assert id_problem("11010519491231002X") is None
    assert "should be X, not 3" in english(id_problem("110105194912310023"))
    assert "birth date" in english(id_problem("110105194913310021"))
    assert "18 characters" in english(id_problem("1101051949123100"))


def test_numbers_are_masked_to_their_ends() -> None:
    assert mask_id("11010519491231002X") == "110105********002X"
    assert mask_phone("13800138000") == "138****8000"
    assert phone_problem("13800138000") is None and phone_problem("0511-85551234") is None
    assert phone_problem("12345") is not None


def test_sealed_numbers_open_only_with_their_key_and_column() -> None:
    key = "ab" * 32
    sealed = Protector(key).seal("11010519491231002X", "id_number")
    assert b"11010519491231002X" not in sealed
    assert Protector(key).open(sealed, "id_number") == "11010519491231002X"
    with pytest.raises(InvalidTag):
        Protector(key).open(sealed, "phone")
    with pytest.raises(InvalidTag):
        Protector("cd" * 32).open(sealed, "id_number")
    assert Protector(key).search_hash("11010519491231002X") == Protector(key).search_hash("11010519491231002X")
    assert Protector(key).search_hash("11010519491231002X") != Protector("cd" * 32).search_hash("11010519491231002X")


@pytest.mark.parametrize(
    ("cadence", "registered", "last", "due"),
    [
        (M, date(2025, 6, 1), date(2026, 1, 31), date(2026, 2, 28)),  # a visit on the month's last day
        (M, date(2025, 6, 1), date(2028, 1, 15), date(2028, 2, 29)),  # leap February
        (M, date(2025, 6, 1), date(2026, 12, 1), date(2027, 1, 31)),  # across the year's end
        (Q, date(2025, 6, 1), date(2026, 3, 31), date(2026, 6, 30)),  # a visit on the quarter's last day
        (Q, date(2025, 6, 1), date(2026, 4, 1), date(2026, 9, 30)),  # the next quarter's first day
        (Q, date(2025, 6, 1), date(2026, 12, 31), date(2027, 3, 31)),
        (M, date(2026, 11, 15), None, date(2026, 12, 31)),  # first due: the month after registration
        (M, date(2026, 11, 1), None, date(2026, 11, 30)),  # registered on the 1st: due that month
        (Q, date(2026, 10, 1), None, date(2026, 12, 31)),
        (Q, date(2026, 10, 2), None, date(2027, 3, 31)),
    ],
)
def test_the_next_visit_is_due_by_the_end_of_the_period_after_the_last(
    cadence: Cadence, registered: date, last: date | None, due: date
) -> None:
    assert due_by(cadence, registered, last) == due


def test_status_counts_the_week_to_sunday() -> None:
    thursday = date(2026, 12, 3)
    assert status(date(2026, 11, 30), thursday) == "overdue"
    assert status(date(2026, 12, 3), thursday) == "this_week"
    assert status(date(2026, 12, 6), thursday) == "this_week"  # Sunday
    assert status(date(2026, 12, 7), thursday) == "later"
    assert period_of(Q, date(2026, 12, 3)) == (date(2026, 10, 1), date(2026, 12, 31))


def test_coverage_counts_the_households_due_in_the_period() -> None:
    households = [  # groups: cadence, registered on, visited, how many households
        (M, date(2026, 1, 1), True, 1),  # due in March, visited
        (M, date(2026, 2, 10), False, 1),  # due in March (first due month), not visited
        (M, date(2026, 3, 2), True, 1),  # first due in April: not counted
        (Q, date(2025, 12, 31), True, 1),  # first due Q1 2026, visited
        (Q, date(2026, 1, 1), False, 1),  # registered on Q1's first day: due in Q1, not visited
        (Q, date(2025, 7, 1), True, 3),  # three alike
        (Q, date(2026, 2, 1), True, 1),  # first due Q2: not counted
    ]
    monthly = coverage(households, M, date(2026, 3, 31))
    quarterly = coverage(households, Q, date(2026, 3, 31))
    assert (monthly.due, monthly.visited, monthly.rate) == (2, 1, 0.5)
    assert (quarterly.due, quarterly.visited, quarterly.rate) == (5, 4, 0.8)  # 4 of 5 by hand
    assert (quarterly.period_first, quarterly.period_last) == (date(2026, 1, 1), date(2026, 3, 31))
    assert coverage([], M, date(2026, 3, 31)).rate is None


def test_a_household_takes_the_tightest_cadence_of_its_tags() -> None:
    rules = load_visit_rules()
    assert rules.cadence_of(["党员", "独居老人"]) is M
    assert rules.cadence_of(["党员"]) is Q
    assert rules.cadence_of([]) is rules.default is Q


def test_a_bad_rules_file_names_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("default: quarterly\ntags:\n  独居老人: {cadence: weekly}\n", encoding="utf-8")
    with pytest.raises(VisitRulesError, match="独居老人.*weekly.*monthly, quarterly"):
        load_visit_rules(path)
    path.write_text("tags: [a, b]\n", encoding="utf-8")
    with pytest.raises(VisitRulesError, match="tags"):
        load_visit_rules(path)


def test_columns_are_named_in_english_or_chinese() -> None:
    at, problems = columns("people", ["姓名", "id_number", "与户主关系", "楼栋编码", "室", "颜色"])
    assert at == {"name": 0, "id_number": 1, "relation": 2, "building": 3, "room": 4}
    assert [(p.line, p.field) for p in problems] == [(1, "颜色")]
    _, missing = columns("buildings", ["code", "name"])
    assert [p.field for p in missing] == ["grid"]
    assert split_tags("独居老人；残疾人、独居老人") == ("独居老人", "残疾人")
