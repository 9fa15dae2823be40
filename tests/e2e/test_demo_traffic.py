"""The demo looks like a contact center in steady state: its traffic, worked by its
agents through the real router on a virtual clock, gives the FCR, repeat-contact and
handoff shares its README section and its code promise, and none that would set off
the FCR or handoff alerts."""

from __future__ import annotations

import queue
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from tests.builders import RULES_FILE
from tests.fakes import FakeClock
from ticketrouter.bootstrap import App, bootstrap
from ticketrouter.config import Settings
from ticketrouter.domain.decisions import Outcome
from ticketrouter.entrypoints.demo.casework import CaseWork
from ticketrouter.entrypoints.demo.console import Directory
from ticketrouter.entrypoints.demo.desk import CaseSchedule, work
from ticketrouter.entrypoints.demo.people import demo_people
from ticketrouter.entrypoints.demo.roster import demo_agents
from ticketrouter.entrypoints.demo.shift import Rota, log_on, set_presence
from ticketrouter.entrypoints.demo.stats import Stats
from ticketrouter.entrypoints.demo.stubs import agent_stub, routing_stub
from ticketrouter.entrypoints.demo.traffic import Traffic
from ticketrouter.entrypoints.grpc_server import create_server
from ticketrouter.v1 import events_pb2, routing_pb2

pytestmark = pytest.mark.e2e

CONTACTS = 2000
RATE = 4.0  # contacts a second: `ticketrouter demo`'s default
SEED = 20270112
T0 = datetime(2027, 1, 12, 9, 0, tzinfo=UTC)
# The ranges the README's demo section states (and traffic.py / casework.py explain).
FCR_RANGE = (0.65, 0.80)
REPEAT_RANGE = (0.10, 0.20)
HANDOFF_RANGE = (0.05, 0.15)


@dataclass
class Rig:
    app: App
    clock: FakeClock
    channel: grpc.Channel


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = FakeClock(T0)
    settings = Settings(database_url=f"sqlite:///{tmp_path}/demo.db", rules_file=RULES_FILE)
    app = bootstrap(settings, clock=clock)
    server, port, _health = create_server(app, "127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Rig(app, clock, channel)
    finally:
        channel.close()
        server.stop(0)
        app.close()


def test_the_demo_traffic_shows_a_contact_center_in_steady_state(rig: Rig) -> None:
    routing, agents = routing_stub(rig.channel), agent_stub(rig.channel)
    assignments: queue.Queue[events_pb2.RoutingDecision | None] = queue.Queue()
    rig.app.feed.subscribe(None, assignments.put_nowait)
    log_on(agents, demo_agents())
    traffic = Traffic(demo_people(), random.Random(SEED))
    casework = CaseWork(routing, Stats(), Directory(), random.Random(SEED + 1))
    schedule = CaseSchedule(random.Random(SEED + 2))
    rota = Rota()
    arrivals = random.Random(SEED + 3)

    def at(seconds: float) -> None:
        rig.clock.advance(seconds=seconds - elapsed())

    def elapsed() -> float:
        return (rig.clock.now() - T0).total_seconds()

    def hand_out() -> None:
        """What the demo's assignment stream does with each decision the router made."""
        while not assignments.empty():
            decision = assignments.get_nowait()
            assert decision is not None and decision.agent_id
            schedule.take(
                decision.case_id,
                decision.agent_id,
                decision.topic,
                elapsed(),
                confirmed=decision.outcome == Outcome.REJOINED_CASE,
            )

    def work_until(moment: float) -> None:
        while (due := schedule.next_due()) is not None and due <= moment:
            at(max(due, elapsed()))
            job = schedule.pop_due(due)
            if job is not None:
                work(casework, job, lambda: False)
                schedule.done(job)
                hand_out()

    def change_shifts() -> None:
        leaving, back = rota.changes(elapsed())
        set_presence(agents, sorted(leaving), "away")
        set_presence(agents, sorted(back), "available")
        hand_out()

    cases_seen: set[str] = set()
    repeats = 0
    moment = 0.0
    for _ in range(CONTACTS):
        moment += arrivals.expovariate(RATE)
        work_until(moment)
        at(moment)
        change_shifts()
        sent = traffic.next_contact(rig.clock.now())
        event = json_format.Parse(sent.payload, events_pb2.ContactEvent())
        decision = routing.SubmitContact(routing_pb2.SubmitContactRequest(event=event)).decision
        # the router's own view of a repeat: the contact joined or reopened a known case
        repeats += decision.case_id in cases_seen
        cases_seen.add(decision.case_id)
        hand_out()
    work_until(moment + 3600)  # the agents finish what they hold

    report = routing.GetResolutionReport(routing_pb2.ResolutionReportRequest())
    shares = {
        "FCR": report.fcr_rate,
        "repeat contacts": repeats / CONTACTS,
        "handoff rate": report.handoff_rate,
    }
    print(shares, f"over {report.resolved} resolutions, {elapsed() / 60:.0f} demo minutes")
    assert report.resolved > 0.8 * len(cases_seen), "the agents kept up with the traffic"
    assert FCR_RANGE[0] <= shares["FCR"] <= FCR_RANGE[1], shares
    assert REPEAT_RANGE[0] <= shares["repeat contacts"] <= REPEAT_RANGE[1], shares
    assert HANDOFF_RANGE[0] <= shares["handoff rate"] <= HANDOFF_RANGE[1], shares
    # the alerts' thresholds, with room to spare
    assert shares["FCR"] > 0.6 and shares["handoff rate"] < 0.25
    assert elapsed() > rota.change_every_s * 5, "shifts changed several times"
    assert timedelta(seconds=elapsed()) < rig.app.routing.fcr_window, "all inside one window"
