"""The feed's memory: each decision handed on once, and a reconnecting desk handed
what it missed, within bounds."""

from __future__ import annotations

from ticketrouter.adapters.feed import AssignmentFeed
from ticketrouter.v1.events_pb2 import RoutingDecision


def decision(number: int, agent_id: str = "ana") -> RoutingDecision:
    return RoutingDecision(decision_id=f"d{number}", case_id=f"case-{number}", agent_id=agent_id)


def ids(received: list[RoutingDecision | None]) -> list[str]:
    return [d.decision_id for d in received if d is not None]


def test_a_decision_arriving_twice_reaches_a_desk_once() -> None:
    feed = AssignmentFeed()
    received: list[RoutingDecision | None] = []
    feed.subscribe("ana", received.append)
    # From the committing thread, then the topic's echo, then a relay's redelivery.
    assert [feed.publish(decision(1)) for _ in range(3)] == [True, False, False]
    assert ids(received) == ["d1"]


def test_a_desk_resuming_after_its_last_decision_gets_only_the_later_ones() -> None:
    feed = AssignmentFeed()
    for n, agent_id in enumerate(["ana", "bo", "ana", "ana", "bo"]):
        feed.publish(decision(n, agent_id))
    received: list[RoutingDecision | None] = []
    subscription = feed.subscribe("ana", received.append, after_decision_id="d2")
    feed.publish(decision(9))
    assert not subscription.gap
    assert ids(received) == ["d3", "d9"]


def test_a_desk_resuming_after_a_decision_no_longer_held_is_told_of_the_gap() -> None:
    feed = AssignmentFeed(recent=100, per_agent=3)
    for n in range(5):
        feed.publish(decision(n))
    received: list[RoutingDecision | None] = []
    subscription = feed.subscribe("ana", received.append, after_decision_id="d0")
    assert subscription.gap
    assert ids(received) == ["d2", "d3", "d4"]  # what is held, oldest first


def test_the_memory_is_bounded_overall_and_forgets_the_oldest_first() -> None:
    feed = AssignmentFeed(recent=4, per_agent=10)
    for n in range(6):
        feed.publish(decision(n, "ana" if n % 2 else "bo"))
    assert feed.publish(decision(0, "bo"))  # forgotten: would be handed on again
    received: list[RoutingDecision | None] = []
    feed.subscribe("ana", received.append, after_decision_id="d-unknown")
    assert ids(received) == ["d3", "d5"]
