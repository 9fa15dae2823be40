"""100 cases with known ground truth: the counters, the Prometheus recording rules
and the gRPC report must all tell the same, exact story, first provisionally and then
once every resolution's FCR window has closed (a window of seconds, here)."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.builders import event_proto
from tests.e2e.conftest import Service, e2e_settings, running_service, wait_until
from tests.e2e.prometheus_server import PrometheusServer
from tests.tools import required_tool
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.v1 import routing_pb2

CHANNELS = ("email", "chat", "voice", "web")
NOW = datetime.now(UTC)
# Long enough for every repeat "inside" to come before its resolution matures, short
# enough for the test to see them all mature.
FCR_WINDOW = timedelta(seconds=12)


@dataclass(frozen=True)
class Story:
    """What happens to one case."""

    transfers: tuple[str, ...] = ()
    repeat: str = ""  # "inside" or "after" the FCR window, or none


# 40 resolved at once, 20 transferred once, 10 twice, 20 come back inside the
# window (reopened, revoked, resolved again), 10 come back after it (a new case).
STORIES = (
    [Story()] * 40
    + [Story(("escalation",))] * 20
    + [Story(("missing_skill", "customer_request"))] * 10
    + [Story(repeat="inside")] * 20
    + [Story(repeat="after")] * 10
)


def _play(service: Service) -> None:
    submit, routing = service.routing.SubmitContact, service.routing
    for n, story in enumerate(STORIES):
        channel = CHANNELS[n % len(CHANNELS)]
        email = f"customer{n}@example.com"
        case = submit(
            routing_pb2.SubmitContactRequest(event=event_proto(f"c{n}", email, channel, NOW))
        ).case
        assert case.status == "assigned", case
        for reason in story.transfers:
            routing.Transfer(routing_pb2.TransferRequest(case_id=case.case_id, reason=reason))
        routing.Resolve(routing_pb2.ResolveRequest(case_id=case.case_id))
        if story.repeat:
            later = datetime.now(UTC) if story.repeat == "inside" else NOW + timedelta(days=8)
            again = submit(
                routing_pb2.SubmitContactRequest(
                    event=event_proto(f"r{n}", email, "sms" if channel != "sms" else "chat", later)
                )
            ).case
            if story.repeat == "inside":
                assert again.case_id == case.case_id
                routing.Resolve(routing_pb2.ResolveRequest(case_id=case.case_id))
            else:
                assert again.case_id != case.case_id


def _expected() -> dict[str, Counter[str]]:
    """Per first channel, computed from the stories by the definitions."""
    figures: dict[str, Counter[str]] = {}
    for n, story in enumerate(STORIES):
        channel = CHANNELS[n % len(CHANNELS)]
        counts = figures.setdefault(channel, Counter())
        counts["resolved"] += 1
        counts["handoffs"] += len(story.transfers)
        counts["with_handoff"] += 1 if story.transfers else 0
        if not story.transfers:
            counts["fcr_provisional"] += 1
        if story.repeat == "inside":
            counts["revoked"] += 1
            counts["resolved"] += 1  # resolved again, not on first contact
    return figures


@pytest.fixture
def service(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Service]:
    url = f"sqlite:///{tmp_path}/ticketrouter.db"
    with running_service(replace(e2e_settings(broker, url), fcr_window=FCR_WINDOW)) as running:
        yield running


@pytest.fixture
def prometheus(service: Service, tmp_path: Path) -> PrometheusServer:
    with PrometheusServer(f"127.0.0.1:{service.runtime.metrics_port}", tmp_path) as server:
        yield server  # type: ignore[misc]


def test_counters_recording_rules_and_report_agree_with_the_ground_truth(
    service: Service, prometheus: PrometheusServer
) -> None:
    for n in range(3):
        service.add_agent(
            f"agent-{n}", {"general": 3}, capacity={c: 50 for c in (*CHANNELS, "sms")}
        )
    wait_until(lambda: prometheus.value('up{job="ticketrouter"}') == 1, 30, "a first scrape")
    _play(service)
    expected = _expected()
    total = sum(expected.values(), Counter())
    assert (total["resolved"], total["fcr_provisional"], total["revoked"]) == (120, 70, 20)
    fcr = total["fcr_provisional"] - total["revoked"]

    # 1. the counters, scraped directly
    for channel, counts in expected.items():
        assert (
            service.metric("ticketrouter_cases_resolved_total", channel=channel)
            == counts["resolved"]
        )
        assert (
            service.metric("ticketrouter_first_contact_resolutions_total", channel=channel)
            == counts["fcr_provisional"]
        )
        assert (
            service.metric("ticketrouter_fcr_revocations_total", channel=channel)
            == counts["revoked"]
        )
        assert (
            service.metric("ticketrouter_resolved_case_handoffs_total", channel=channel)
            == counts["handoffs"]
        )
    assert service.metric("ticketrouter_handoffs_total", reason="escalation") == 20
    assert service.metric("ticketrouter_handoffs_total", reason="missing_skill") == 10
    assert service.metric("ticketrouter_handoffs_total", reason="customer_request") == 10
    contacts = sum(
        service.metric("ticketrouter_contacts_received_total", channel=c)
        for c in {*CHANNELS, "sms"}
    )
    assert contacts == 100 + 20 + 10  # first contacts, repeats inside and after the window

    # 2. the gRPC report, from the record
    report = service.routing.GetResolutionReport(routing_pb2.ResolutionReportRequest())
    assert (report.resolved, report.first_contact_resolved) == (120, fcr)
    assert (report.resolved_with_handoff, report.resolved_case_handoffs) == (30, 40)
    assert report.handoffs == report.resolved_case_handoffs, "the deprecated name, kept"
    assert report.fcr_rate == pytest.approx(fcr / 120)
    assert report.handoff_rate == pytest.approx(30 / 120)
    assert report.handoffs_per_case == pytest.approx(40 / 120)
    for channel, counts in expected.items():
        by_channel = service.routing.GetResolutionReport(
            routing_pb2.ResolutionReportRequest(channel=channel)
        )
        assert by_channel.resolved == counts["resolved"]
        assert by_channel.first_contact_resolved == counts["fcr_provisional"] - counts["revoked"]

    # 3. Prometheus, through the project's recording rules
    wait_until(
        lambda: prometheus.value("sum(ticketrouter_cases_resolved_total)") == 120,
        30,
        "the final scrape",
    )
    # rules evaluate every second; wait for an evaluation after the final scrape. Until
    # the windows close, only the provisional figure exists: credits given / resolutions.
    wait_until(
        lambda: _close(
            prometheus.value("ticketrouter:fcr_provisional:ratio_rate5m"),
            total["fcr_provisional"] / 120,
        ),
        30,
        "the provisional FCR rule to see every resolution",
    )
    assert _close(prometheus.value("ticketrouter:handoff_rate:ratio_rate5m"), 30 / 120)
    assert _close(
        prometheus.value("ticketrouter:handoffs_per_resolved_case:ratio_rate5m"), 40 / 120
    )
    for channel, counts in expected.items():
        selector = f'{{channel="{channel}"}}'
        assert _close(
            prometheus.value(f"ticketrouter_channel:fcr_provisional:ratio_rate5m{selector}"),
            counts["fcr_provisional"] / counts["resolved"],
        )
        assert _close(
            prometheus.value(f"ticketrouter_channel:handoff_rate:ratio_rate5m{selector}"),
            counts["with_handoff"] / counts["resolved"],
        )

    # 4. the windows close: every resolution matures once, with its final outcome
    wait_until(
        lambda: prometheus.value("sum(ticketrouter_resolutions_matured_total)") == 120,
        FCR_WINDOW.total_seconds() + 30,
        "every resolution to mature and be scraped",
    )
    for channel, counts in expected.items():
        assert (
            service.metric("ticketrouter_resolutions_matured_total", channel=channel)
            == counts["resolved"]
        )
        assert service.metric(
            "ticketrouter_first_contact_resolutions_matured_total", channel=channel
        ) == (counts["fcr_provisional"] - counts["revoked"])
    report = service.routing.GetResolutionReport(routing_pb2.ResolutionReportRequest())
    assert (report.matured, report.first_contact_matured) == (120, fcr)
    assert report.matured_fcr_rate == pytest.approx(fcr / 120)
    wait_until(
        lambda: _close(prometheus.value("ticketrouter:fcr_matured:ratio_rate5m"), fcr / 120),
        30,
        "the matured FCR rule to see every resolution",
    )
    # the former name, deprecated, is the matured figure
    assert _close(prometheus.value("ticketrouter:fcr_rate:ratio_rate5m"), fcr / 120)
    for channel, counts in expected.items():
        selector = f'{{channel="{channel}"}}'
        assert _close(
            prometheus.value(f"ticketrouter_channel:fcr_matured:ratio_rate5m{selector}"),
            (counts["fcr_provisional"] - counts["revoked"]) / counts["resolved"],
        )


def _close(value: float | None, expected: float) -> bool:
    return value is not None and abs(value - expected) < 1e-9


ALLOWED_LABELS = {
    "channel",
    "outcome",
    "reason",
    "from_team",
    "to_team",
    "rule",
    "partition",
    "how",
    "version",
    "event_type",  # the contract's four types, or "other"
    "score",  # CSAT 1-5
    "handoffs",  # 0, 1, 2+
    "first_contact",
    "team",  # the configured teams, or "other"
    "le",
}
_ID = re.compile(r"[0-9a-f]{32}")


def test_the_exposition_is_valid_and_no_label_carries_an_id(service: Service) -> None:
    service.add_agent("agent-x", {"general": 3})
    case = service.routing.SubmitContact(
        routing_pb2.SubmitContactRequest(
            event=event_proto("x1", "someone@example.com", "email", NOW)
        )
    ).case
    service.routing.Transfer(routing_pb2.TransferRequest(case_id=case.case_id, reason="other"))
    exposition = service.scrape()
    for line in exposition.splitlines():
        if line.startswith("#") or "{" not in line:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("{", 1)[1].rsplit("}", 1)[0]))
        assert set(labels) <= ALLOWED_LABELS, line
        for value in labels.values():
            assert not _ID.search(value), line
            assert value not in (case.case_id, case.customer_id, "agent-x"), line
    promtool = required_tool("promtool")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=exposition.encode(), capture_output=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
