"""The fairness figures: the spread of assignments by team, the longest busy stretch
and the occupancy distribution, from the agents as the database describes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ticketrouter.domain.channels import Channel
from ticketrouter.domain.fairness import AgentWork, busiest_to_median, fairness_figures, gini

NOW = datetime(2027, 1, 26, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [([], 0.0), ([0, 0], 0.0), ([4, 4, 4], 0.0), ([0, 0, 0, 8], 0.75), ([1, 2, 3], 2 / 9)],
)
def test_gini_is_zero_when_equal_and_grows_as_one_takes_all(
    counts: list[int], expected: float
) -> None:
    assert gini(counts) == pytest.approx(expected)


def test_the_busiest_agent_is_measured_against_a_median_of_at_least_one() -> None:
    assert busiest_to_median([2, 4, 10]) == 2.5
    assert busiest_to_median([0, 0, 6]) == 6  # the median 0 counts as 1
    assert busiest_to_median([]) == 0


def test_agents_on_shift_without_work_count_and_only_work_in_hand_is_busy() -> None:
    agents = [
        AgentWork("a", "billing", True, {Channel.CHAT: (3, 3)}, NOW - timedelta(hours=2), 9),
        AgentWork("b", "billing", True, {Channel.CHAT: (0, 3)}, None, 0),
        # a stale busy_since of an idle agent is not a busy stretch
        AgentWork("c", "billing", False, {Channel.CHAT: (0, 3)}, NOW - timedelta(hours=5), 0),
        AgentWork("d", "care", True, {Channel.CHAT: (1, 2), Channel.EMAIL: (0, 0)}, NOW, 1),
    ]
    figures = fairness_figures(agents, NOW, lambda team: team if team == "billing" else "other")
    billing, other = figures.teams["billing"], figures.teams["other"]
    assert (billing.agents, billing.assignments) == (3, 9)
    assert billing.gini == pytest.approx(2 / 3)
    assert billing.busiest_to_median == 9
    assert billing.longest_busy_seconds == 7200
    assert (other.agents, other.longest_busy_seconds) == (1, 0)
    chat = figures.occupancy[Channel.CHAT]
    # the away agent is not in the distribution; a zero capacity is not a channel worked
    assert (chat.total, chat.counts, chat.occupancy_sum) == (3, (1, 1, 1, 2, 2, 3), 1.5)
    assert Channel.EMAIL not in figures.occupancy
