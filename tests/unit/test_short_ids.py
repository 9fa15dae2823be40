"""Short ids as people paste them, and screen lines that fit the terminal."""

from __future__ import annotations

import pytest

from tests.fakes import FakeRepository
from ticketrouter.adapters.short_ids import full_id
from ticketrouter.domain.errors import InvalidField
from ticketrouter.entrypoints.demo.console import event_lines

CASE_A = "3f2a9b1e" + "0" * 24
CASE_B = "3f2a9b1e" + "1" * 24


def repo_with_cases(*ids: str) -> FakeRepository:
    repo = FakeRepository()
    for case_id in ids:
        repo.cases[case_id] = object()  # type: ignore[assignment]  # only ids are read
    return repo


def test_an_unambiguous_prefix_stands_for_the_id() -> None:
    repo = repo_with_cases(CASE_A, "ffffffff" + "0" * 24)
    assert full_id(repo, "case", "3f2a9b1e", "case_id") == CASE_A
    assert full_id(repo, "case", CASE_A, "case_id") == CASE_A


def test_an_ambiguous_prefix_asks_for_more_naming_the_field() -> None:
    repo = repo_with_cases(CASE_A, CASE_B)
    with pytest.raises(InvalidField) as refused:
        full_id(repo, "case", "3f2a9b1e", "case_id")
    assert "case_id" in str(refused.value) and "more than one case id" in str(refused.value)
    assert full_id(repo, "case", "3f2a9b1e0", "case_id") == CASE_A


@pytest.mark.parametrize("given", ["3f2a9b1", "3F2A9B1E", "not-hex-at-all", ""])
def test_what_is_not_a_short_id_is_taken_as_given(given: str) -> None:
    assert full_id(repo_with_cases(CASE_A), "case", given, "case_id") == given


def test_screen_lines_fit_80_columns_and_carry_the_short_ids() -> None:
    shown = event_lines(
        "email",
        "Anastasia Konstantinopoulou",
        "billing.refund.partial",
        "assigned",
        "-> agent-with-a-long-name",
        CASE_A,
        "0e1b2c3d" + "9" * 24,
        "because " * 30,
        width=80,
    )
    first, second = shown.splitlines()
    assert max(len(first), len(second)) <= 80
    assert "case 3f2a9b1e  customer 0e1b2c3d" in second
    assert second.endswith("…")
