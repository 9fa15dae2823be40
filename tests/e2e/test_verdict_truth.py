"""The customer's verdict and the offers, with known ground truth: 30 cases offered,
accepted, declined, left to lapse, handed off and surveyed (one survey replaced by a
later one, one delivered twice, one arriving late); the scraped counters, a real
Prometheus evaluating the project's rules, and GetResolutionReport agree exactly."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.builders import event_proto
from tests.e2e.conftest import Service, e2e_settings, running_service, wait_until
from tests.e2e.prometheus_server import PrometheusServer
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.v1 import routing_pb2

CHANNELS = ("email", "chat", "web")
NOW = datetime.now(UTC)
OFFER_TIMEOUT = 1.5  # seconds: lapses happen while the test waits for them


@dataclass(frozen=True)
class Story:
    transfers: int = 0
    declined: bool = False  # the first agent declines
    lapses: bool = False  # the first agent never answers
    scores: tuple[int, ...] = (5,)  # surveys in order; the last is in force


STORIES = (
    [Story(scores=(5,))] * 6
    + [Story(scores=(4,))] * 4
    + [Story(transfers=1, scores=(3,))] * 4
    + [Story(transfers=1, scores=(2,))] * 2
    + [Story(transfers=2, scores=(1,))] * 3
    + [Story(declined=True, scores=(4,))] * 4
    + [Story(lapses=True, scores=(5,))] * 3
    + [Story(scores=(2, 4))] * 2  # the customer answers again: 4 replaces 2
    + [Story(transfers=1, scores=())] * 2  # no survey
)


def _survey(event_id: str, case_id: str, score: int, at: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "survey.completed",
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "case_id": case_id,
        "csat": score,
    }


def _accept(service: Service, case: routing_pb2.Case) -> routing_pb2.Case:
    assert case.status == "offered", case
    return service.routing.AcceptOffer(
        routing_pb2.AcceptOfferRequest(case_id=case.case_id, agent_id=case.owner_agent_id)
    )


def _play(service: Service, offers: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
    routing, surveys = service.routing, []
    for n, story in enumerate(STORIES):
        channel = CHANNELS[n % len(CHANNELS)]
        case = routing.SubmitContact(
            routing_pb2.SubmitContactRequest(
                event=event_proto(f"c{n}", f"customer{n}@example.com", channel, NOW)
            )
        ).case
        if story.declined:
            case = routing.DeclineOffer(
                routing_pb2.DeclineOfferRequest(
                    case_id=case.case_id, agent_id=case.owner_agent_id, reason="on a call"
                )
            )
            offers[channel, "declined"] += 1
        if story.lapses:
            case_id, first = case.case_id, case.owner_agent_id
            wait_until(
                lambda: _owner(service, case_id) not in ("", first),  # noqa: B023
                OFFER_TIMEOUT + 10,
                "the offer to lapse and go to someone else",
            )
            case = routing.GetCase(routing_pb2.GetCaseRequest(case_id=case.case_id))
            offers[channel, "lapsed"] += 1
        case = _accept(service, case)
        offers[channel, "accepted"] += 1
        for _ in range(story.transfers):
            case = routing.Transfer(
                routing_pb2.TransferRequest(case_id=case.case_id, reason="escalation")
            )
            case = _accept(service, case)
            offers[channel, "accepted"] += 1
        routing.Resolve(routing_pb2.ResolveRequest(case_id=case.case_id))
        for k, score in enumerate(story.scores):
            at = NOW + timedelta(minutes=k + 1)
            surveys.append(_survey(f"s{n}-{k}", case.case_id, score, at))
    # delivered twice: counted once; an answer older than the one in force: not counted
    surveys.append(surveys[0])
    replaced_case = surveys[-2]["case_id"]
    surveys.append(_survey("late", replaced_case, 1, NOW))
    return surveys


def _owner(service: Service, case_id: str) -> str:
    case = service.routing.GetCase(routing_pb2.GetCaseRequest(case_id=case_id))
    return str(case.owner_agent_id) if case.status == "offered" else ""


def _expected() -> dict[str, Counter[str]]:
    """Net answers and points by group: overall, channel:…, handoffs:…, first_contact."""
    tallies: dict[str, Counter[str]] = {}
    for n, story in enumerate(STORIES):
        if not story.scores:
            continue
        score = story.scores[-1]
        band = "0" if not story.transfers else "1" if story.transfers == 1 else "2+"
        groups = ["overall", f"channel:{CHANNELS[n % len(CHANNELS)]}", f"handoffs:{band}"]
        groups.append("first_contact" if not story.transfers else "handed_off")
        for group in groups:
            tally = tallies.setdefault(group, Counter())
            tally["responses"] += 1
            tally["points"] += score
    return tallies


@pytest.fixture
def service(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Service]:
    url = f"sqlite:///{tmp_path}/ticketrouter.db"
    settings = replace(e2e_settings(broker, url), offer_timeout_seconds=OFFER_TIMEOUT)
    with running_service(settings) as running:
        yield running


@pytest.fixture
def prometheus(service: Service, tmp_path: Path) -> Iterator[PrometheusServer]:
    with PrometheusServer(f"127.0.0.1:{service.runtime.metrics_port}", tmp_path) as server:
        yield server


def test_csat_and_offers_agree_in_counters_rules_and_report(
    service: Service, prometheus: PrometheusServer
) -> None:
    for n in range(3):
        service.add_agent(f"agent-{n}", {"general": 3}, capacity={c: 50 for c in CHANNELS})
    wait_until(lambda: prometheus.value('up{job="ticketrouter"}') == 1, 30, "a first scrape")
    offers: Counter[tuple[str, str]] = Counter()
    surveys = _play(service, offers)
    service.publish(*surveys)
    answers = sum(len(s.scores) for s in STORIES)
    wait_until(
        lambda: service.metric_sum("ticketrouter_csat_responses_total") == answers,
        30,
        "every survey to be counted",
    )
    expected = _expected()
    overall = expected["overall"]
    assert (overall["responses"], answers) == (28, 30)

    # 1. the counters, scraped directly: answers in force = responses - replaced
    replaced = service.metric_sum("ticketrouter_csat_responses_replaced_total")
    assert replaced == 2
    assert service.metric_sum("ticketrouter_csat_responses_total", score="2") == 2 + 2
    assert service.metric_sum("ticketrouter_csat_responses_replaced_total", score="2") == 2
    assert service.metric_sum("ticketrouter_csat_responses_total", handoffs="2+") == 3
    fcr_answers = service.metric_sum("ticketrouter_csat_responses_total", first_contact="true")
    assert fcr_answers - replaced == expected["first_contact"]["responses"]
    for (channel, outcome), count in offers.items():
        assert (
            service.metric("ticketrouter_offers_total", channel=channel, outcome=outcome) == count
        )
    assert service.metric_sum("ticketrouter_offers_total", outcome="withdrawn") == 0
    answered = sum(offers.values())
    assert service.metric("ticketrouter_offer_answer_seconds_count", outcome="lapsed") == 3
    assert service.metric_sum("ticketrouter_offer_answer_seconds_count") == answered

    # 2. the gRPC report, from the record
    report = service.routing.GetResolutionReport(routing_pb2.ResolutionReportRequest()).csat
    for name, tally in (
        ("overall", report.overall),
        ("first_contact", report.first_contact),
        ("handed_off", report.handed_off),
        *((f"channel:{c}", t) for c, t in report.by_channel.items()),
        *((f"handoffs:{b}", t) for b, t in report.by_handoffs.items()),
    ):
        want = expected[name]
        assert (tally.responses, tally.points) == (want["responses"], want["points"]), name
        assert tally.mean == pytest.approx(want["points"] / want["responses"]), name
    assert set(report.by_handoffs) == {"0", "1", "2+"}
    chat = service.routing.GetResolutionReport(routing_pb2.ResolutionReportRequest(channel="chat"))
    assert chat.csat.overall.responses == expected["channel:chat"]["responses"]

    # 3. Prometheus, through the project's recording rules
    wait_until(
        lambda: prometheus.value("sum(ticketrouter_csat_responses_total)") == answers,
        30,
        "the final scrape",
    )

    def mean(group: str) -> float:
        return expected[group]["points"] / expected[group]["responses"]

    rules = {
        "ticketrouter:csat_mean:ratio_rate1h": mean("overall"),
        "ticketrouter:csat_first_contact_mean:ratio_rate1h": mean("first_contact"),
        "ticketrouter:csat_handed_off_mean:ratio_rate1h": mean("handed_off"),
        "ticketrouter:csat_handoff_gap:ratio_rate1h": mean("first_contact") - mean("handed_off"),
        'ticketrouter_handoffs:csat_mean:ratio_rate1h{handoffs="2+"}': mean("handoffs:2+"),
        'ticketrouter_channel:csat_mean:ratio_rate1h{channel="web"}': mean("channel:web"),
        "ticketrouter:offer_acceptance:ratio_rate5m": sum(
            v for (_, o), v in offers.items() if o == "accepted"
        )
        / answered,
        "ticketrouter:offer_lapses:ratio_rate5m": 3 / answered,
    }
    # rules evaluate every second: wait for an evaluation after the final scrape
    wait_until(
        lambda: all(_close(prometheus.value(q), v) for q, v in rules.items()),
        30,
        "the rules to see every answer and offer",
    )


def _close(value: float | None, expected: float) -> bool:
    return value is not None and abs(value - expected) < 1e-9
