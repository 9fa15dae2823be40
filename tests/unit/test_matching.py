from datetime import UTC, datetime, timedelta

from tests.builders import agent
from ticketrouter.domain.agents import Agent
from ticketrouter.domain.cases import Case, CaseStatus
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.decisions import Exclusion, Explanation
from ticketrouter.domain.matching import Ranking, best_case_for, exclusion, rank_agents
from ticketrouter.domain.requirements import AuthorityNeed, Requirements

REFUND = Requirements(
    skills=(("billing", 3),),
    authority=(AuthorityNeed("refund_limit", at_least=150.0),),
    language="en",
)
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_eligible_means_every_skill_authority_language_presence_and_capacity() -> None:
    good = agent("good", {"billing": 3}, {"refund_limit": 150})
    assert exclusion(good, REFUND, Channel.EMAIL) is None
    assert (
        exclusion(agent("a", {"billing": 2}, {"refund_limit": 900}), REFUND, Channel.EMAIL)
        is Exclusion.MISSING_SKILL
    )
    assert (
        exclusion(agent("b", {"billing": 5}, {"refund_limit": 149}), REFUND, Channel.EMAIL)
        is Exclusion.MISSING_AUTHORITY
    )
    assert (
        exclusion(
            agent("c", {"billing": 5}, {"refund_limit": 500}, languages=("es",)),
            REFUND,
            Channel.EMAIL,
        )
        is Exclusion.LANGUAGE
    )
    assert (
        exclusion(
            agent("d", {"billing": 5}, {"refund_limit": 500}, presence=Presence.AWAY),
            REFUND,
            Channel.EMAIL,
        )
        is Exclusion.PRESENCE
    )
    assert exclusion(good, REFUND, Channel.SMS) is Exclusion.CAPACITY


def test_flags_must_be_set() -> None:
    need = Requirements(authority=(AuthorityNeed("can_waive_fees", must_be_true=True),))
    assert exclusion(agent("x", authority={"can_waive_fees": 1.0}), need, Channel.EMAIL) is None
    assert (
        exclusion(agent("y", authority={"can_waive_fees": 0.0}), need, Channel.EMAIL)
        is Exclusion.MISSING_AUTHORITY
    )


def test_least_occupied_wins_then_longest_idle_and_the_choice_is_explained() -> None:
    busy = agent("busy", {"billing": 5}, {"refund_limit": 1000})
    busy.load = {Channel.EMAIL: 2}
    idle_long = agent("idle-long", {"billing": 3}, {"refund_limit": 200})
    idle_long.last_assigned_at = T0 - timedelta(hours=2)
    idle_short = agent("idle-short", {"billing": 3}, {"refund_limit": 200})
    idle_short.last_assigned_at = T0 - timedelta(minutes=1)
    weak = agent("weak", {"billing": 1}, {"refund_limit": 1000})
    ranking = rank_agents(REFUND, Channel.EMAIL, [busy, idle_short, weak, idle_long], "refunds")
    assert [a.agent_id for a in ranking.in_order()] == ["idle-long", "idle-short", "busy"]
    assert [a.agent_id for a in ranking.in_order("busy")] == ["busy", "idle-long", "idle-short"]
    exp = ranking.explanation
    assert (exp.candidates_considered, exp.eligible) == (4, 3)
    assert exp.excluded_by_reason == {"missing_skill": 1}
    assert "least occupied" in exp.winner_reason
    assert exp.rule == "refunds"


def test_no_eligible_agent_explains_why() -> None:
    ranking = rank_agents(REFUND, Channel.EMAIL, [agent("a", {"billing": 3})], "refunds")
    assert ranking.eligible == () and ranking.best is None
    assert ranking.explanation.excluded_by_reason == {"missing_authority": 1}
    assert "no eligible agent" in ranking.explanation.summary


def _case(case_id: str, priority: int, waited_minutes: int, skills: dict[str, int]) -> Case:
    queued = T0 - timedelta(minutes=waited_minutes)
    return Case(
        case_id,
        "cust",
        "t",
        "r",
        Requirements(tuple(skills.items())),
        priority,
        CaseStatus.QUEUED,
        Channel.CHAT,
        Channel.CHAT,
        queued,
        queued_at=queued,
    )


def test_freed_agent_pulls_the_best_case_they_are_empowered_for() -> None:
    waiting = [
        _case("old-low", 0, 30, {"general": 1}),
        _case("new-high", 2, 1, {"general": 1}),
        _case("urgent-but-not-mine", 3, 50, {"security": 4}),
        _case("older-high", 2, 5, {"general": 1}),
    ]
    assert best_case_for(agent("a", {"general": 2}), waiting).case_id == "older-high"
    assert best_case_for(agent("b", {"orders": 5}), waiting) is None


def test_an_agent_never_assigned_counts_as_idle_the_longest() -> None:
    recent = agent("recent", {"general": 1})
    recent.last_assigned_at = T0
    fresh = agent("fresh", {"general": 1})
    ranking = rank_agents(Requirements((("general", 1),)), Channel.EMAIL, [recent, fresh], "d")
    assert [a.agent_id for a in ranking.in_order()] == ["fresh", "recent"]


def test_the_first_choice_is_offered_without_sorting_everyone() -> None:
    """Sorting every eligible agent is only worth it when the best one was taken."""
    calls = 0

    def counting_key(candidate: Agent) -> tuple[str]:
        nonlocal calls
        calls += 1
        return (candidate.agent_id,)

    eligible = tuple(agent(f"a{n}", {"billing": 2}) for n in range(50))
    ranking = Ranking(
        eligible, eligible[7], Explanation("r", Requirements(), Channel.EMAIL), counting_key
    )
    assert next(ranking.in_order()).agent_id == "a7"
    assert calls == 0
    assert [a.agent_id for a in ranking.in_order()][:2] == ["a7", "a0"]
