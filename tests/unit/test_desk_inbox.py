"""A desk's buffer: decisions from other threads in order, bounded, and a stop that
ends the stream."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest

from ticketrouter.adapters.desk_inbox import DeskInbox
from ticketrouter.adapters.feed import AssignmentFeed
from ticketrouter.adapters.grpc_errors import Abort
from ticketrouter.v1.events_pb2 import RoutingDecision


def decision(number: int, agent_id: str = "ana") -> RoutingDecision:
    return RoutingDecision(
        decision_id=f"d{number}", case_id=f"case-{number}", outcome="assigned", agent_id=agent_id
    )


def published_from_a_thread(feed: AssignmentFeed, decisions: list[RoutingDecision]) -> None:
    thread = threading.Thread(target=lambda: [feed.publish(d) for d in decisions])
    thread.start()
    thread.join()


def test_a_desk_gets_its_agents_decisions_in_order_from_another_thread() -> None:
    async def run() -> list[str]:
        feed = AssignmentFeed()
        inbox = DeskInbox(asyncio.get_running_loop())
        feed.subscribe("ana", inbox.deliver)
        published_from_a_thread(feed, [decision(1), decision(2, "bo"), decision(3)])
        return [(await inbox.next()).decision_id for _ in range(2)]

    assert asyncio.run(run()) == ["d1", "d3"]


def test_a_desk_that_falls_behind_is_ended_with_resource_exhausted() -> None:
    async def run() -> Abort:
        feed = AssignmentFeed()
        inbox = DeskInbox(asyncio.get_running_loop(), capacity=2)
        feed.subscribe(None, inbox.deliver)
        published_from_a_thread(feed, [decision(n) for n in range(3)])
        with pytest.raises(Abort) as ended:
            await inbox.next()
        return ended.value

    ended = asyncio.run(run())
    assert ended.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "2 assignments behind" in ended.details


def test_closing_the_feed_ends_a_waiting_desk_with_unavailable() -> None:
    async def run() -> Abort:
        feed = AssignmentFeed()
        inbox = DeskInbox(asyncio.get_running_loop())
        feed.subscribe("ana", inbox.deliver)
        waiting = asyncio.ensure_future(inbox.next())
        await asyncio.sleep(0)  # the desk is waiting now
        threading.Thread(target=feed.close).start()
        with pytest.raises(Abort) as ended:
            await waiting
        return ended.value

    assert asyncio.run(run()).code is grpc.StatusCode.UNAVAILABLE
