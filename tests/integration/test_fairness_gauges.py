"""The fairness gauges on SQLite and PostgreSQL: what the refresh reads from the
database (assignments of the window from cases.assigned_at, busy stretches from
agents.busy_since kept at commit), scraped over HTTP and clean for promtool."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry, start_http_server

from tests.builders import RULES_FILE, agent, contact
from tests.fakes import FakeClock
from ticketrouter.bootstrap import App, bootstrap
from ticketrouter.config import Settings
from ticketrouter.domain.commands import ResolveCase, UpsertAgent
from ticketrouter.service_layer.agents import upsert_agent
from ticketrouter.service_layer.cases import resolve_case
from ticketrouter.service_layer.intake import handle_events

T0 = datetime(2027, 1, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    settings = Settings(database_url=database_url, rules_file=RULES_FILE, teams=("billing", "care"))
    application = bootstrap(settings, CollectorRegistry(), FakeClock(T0))
    yield application
    application.close()


def _route(app: App, *emails: str) -> list[str]:
    with app.uow() as uow:
        decisions = handle_events(
            [contact(("email", e), channel="chat", at=app.clock.now()) for e in emails],
            uow,
            app.clock.now(),
            app.routing,
        )
        uow.commit()
    return [d.case_id for d in decisions if d is not None]


def _resolve(app: App, case_id: str) -> None:
    with app.uow() as uow:
        resolve_case(ResolveCase(case_id), uow, app.clock.now(), app.routing)
        uow.commit()


def _value(app: App, name: str, **labels: str) -> float:
    value = app.registry.get_sample_value(name, labels)
    assert value is not None, (name, labels)
    return value


def test_the_refresh_reports_the_spread_of_work_and_the_longest_busy_stretch(app: App) -> None:
    clock = app.clock
    assert isinstance(clock, FakeClock)
    with app.uow() as uow:
        for name, team, chats in [
            ("ana", "billing", 3),
            ("ben", "billing", 3),
            ("cleo", "billing", 1),
            ("dan", "night-shift", 1),
        ]:
            profile = agent(name, team=team, capacity={"chat": chats})
            upsert_agent(UpsertAgent(profile), uow, clock.now(), app.routing)
        uow.commit()
    # least occupied first: one chat each, then cleo and dan are full and the next
    # three go to ana and ben: 3, 2 and 1 over billing's three
    first = _route(app, "a@x.com", "b@x.com", "c@x.com", "d@x.com")
    clock.advance(minutes=10)
    _route(app, "e@x.com", "f@x.com", "g@x.com")
    clock.advance(minutes=20)
    with app.uow() as uow:
        owners = {c: uow.repo.get_case(c).owner_agent_id for c in first}  # type: ignore[union-attr]
    dan_case = next(c for c, owner in owners.items() if owner == "dan")
    _resolve(app, dan_case)  # dan's only slot frees: his stretch ends
    app.refresh_gauges()

    assert _value(app, "ticketrouter_team_agents_counted", team="billing") == 3
    assert _value(app, "ticketrouter_team_assignment_gini", team="billing") == pytest.approx(2 / 9)
    assert (
        _value(app, "ticketrouter_team_assignment_busiest_to_median_ratio", team="billing") == 1.5
    )
    # a team outside the configured set counts as other, never under its own name
    assert _value(app, "ticketrouter_team_agents_counted", team="other") == 1
    assert _value(app, "ticketrouter_team_longest_busy_seconds", team="other") == 0
    # busy since the first chat, 30 minutes ago, without a pause
    assert _value(app, "ticketrouter_team_longest_busy_seconds", team="billing") == 1800
    # dan idle (0 of 1), ana or ben at 2 of 3, the other and cleo full
    bucket = "ticketrouter_agent_occupancy_distribution_ratio_bucket"
    assert _value(app, bucket, channel="chat", le="0.0") == 1
    assert _value(app, bucket, channel="chat", le="0.6") == 1
    assert _value(app, bucket, channel="chat", le="0.8") == 2
    assert _value(app, bucket, channel="chat", le="1.0") == 4
    assert _value(app, bucket, channel="chat", le="+Inf") == 4

    # an hour on, the first chats have left the window: 2, 1 and cleo's 0
    clock.advance(minutes=35)
    app.refresh_gauges()
    assert _value(app, "ticketrouter_team_assignment_busiest_to_median_ratio", team="billing") == 2
    assert _value(app, "ticketrouter_team_assignment_gini", team="billing") == pytest.approx(4 / 9)
    assert _value(app, "ticketrouter_team_longest_busy_seconds", team="billing") == 3900

    server, _thread = start_http_server(0, "127.0.0.1", registry=app.registry)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            exposition = response.read()
    finally:
        server.shutdown()
    for identifier in ("ana", "ben", "cleo", "dan", "night-shift"):
        assert f'"{identifier}"' not in exposition.decode()
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not on PATH (bash deploy/dev/install-prometheus-tools.sh)")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
