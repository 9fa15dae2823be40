"""Erlang C against the reference cases (published worked examples and pyworkforce's
own tests, recomputed independently)."""

from __future__ import annotations

import math

import pytest

from tests.shared_data import erlang_reference_cases, shared_file
from ticketrouter.domain.erlang import fewest_agents, p_wait, staffing_at


def test_every_reference_case_to_its_published_precision() -> None:
    for case in erlang_reference_cases():
        found = staffing_at(
            case["agents"], case["calls"], case["interval_s"], case["aht_s"], case["target_s"]
        )
        assert found.p_wait == pytest.approx(case["pw"], abs=1e-4), case
        assert found.service_level == pytest.approx(case["sl"], abs=1e-4), case
        assert found.asa_seconds == pytest.approx(case["asa_s"], abs=0.01), case
        assert found.occupancy == pytest.approx(case["occ"], abs=1e-4), case


def test_the_fewest_agents_meeting_80_in_20_is_the_first_case_above_it() -> None:
    shared_file("erlang_reference_cases.json")
    # 100 calls a half hour at 180 s: 13 agents answer 79.6% in 20 s, 14 answer 88.8%.
    found = fewest_agents(100, 1800, 180, 0.80, 20)
    assert found.agents == 14
    assert found.service_level == pytest.approx(0.8884, abs=1e-4)


def test_understaffed_queues_grow_without_end() -> None:
    found = staffing_at(10, 100, 1800, 180, 20)  # 10 Erlangs on 10 agents
    assert found.p_wait == 1.0 and math.isinf(found.asa_seconds) and found.service_level == 0


def test_erlang_b_recursion_stays_finite_for_large_centers() -> None:
    assert 0 < p_wait(3000, 2950.0) < 1
