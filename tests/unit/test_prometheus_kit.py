"""The SRE kit under deploy/: Prometheus rules, their unit tests, the scrape config,
the Grafana dashboard and the runbook, checked against the metrics the service exposes.

promtool is needed for the rule and config checks: without it those tests skip with
a message, except under CI, where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from ticketrouter.adapters.metrics import PrometheusMetrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules" / "ticketrouter.rules.yml"
RULE_TESTS = PROMETHEUS / "tests" / "ticketrouter.rules.test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "ticketrouter-dashboard.json"
RUNBOOK = ROOT / "deploy" / "RUNBOOK.md"
RUNBOOK_URL = "https://github.com/ticketrouter/ticketrouter/blob/main/deploy/RUNBOOK.md#"

# The metrics contract: every name the service exposes, as written in PromQL, with its
# labels (all from closed sets).
CSAT_LABELS = frozenset({"channel", "score", "handoffs", "first_contact"})
COUNTERS: dict[str, frozenset[str]] = {
    "ticketrouter_contacts_received_total": frozenset({"channel"}),
    "ticketrouter_routing_decisions_total": frozenset({"outcome"}),
    "ticketrouter_handoffs_total": frozenset({"reason"}),
    "ticketrouter_handoffs_by_team_total": frozenset({"from_team", "to_team"}),
    "ticketrouter_cases_resolved_total": frozenset({"channel"}),
    "ticketrouter_first_contact_resolutions_total": frozenset({"channel"}),
    "ticketrouter_fcr_revocations_total": frozenset({"channel"}),
    "ticketrouter_resolutions_matured_total": frozenset({"channel"}),
    "ticketrouter_first_contact_resolutions_matured_total": frozenset({"channel"}),
    "ticketrouter_cases_resolved_with_handoff_total": frozenset({"channel"}),
    "ticketrouter_resolved_case_handoffs_total": frozenset({"channel"}),
    "ticketrouter_dlq_messages_total": frozenset({"reason"}),
    "ticketrouter_events_with_unknown_fields_total": frozenset({"event_type"}),
    "ticketrouter_customer_merges_total": frozenset({"how"}),
    "ticketrouter_identity_conflicts_total": frozenset({"reason"}),
    "ticketrouter_csat_responses_total": CSAT_LABELS,
    "ticketrouter_csat_responses_replaced_total": CSAT_LABELS,
    "ticketrouter_offers_total": frozenset({"channel", "outcome"}),
    "ticketrouter_contacts_abandoned_total": frozenset({"channel"}),
}
HISTOGRAMS: dict[str, frozenset[str]] = {
    "ticketrouter_routing_latency_seconds": frozenset(),
    "ticketrouter_queue_wait_seconds": frozenset(),
    "ticketrouter_offer_answer_seconds": frozenset({"outcome"}),
    "ticketrouter_queue_abandon_seconds": frozenset({"channel"}),
}
GAUGES: dict[str, frozenset[str]] = {
    "ticketrouter_queue_depth": frozenset({"rule"}),
    "ticketrouter_queue_longest_wait_seconds": frozenset({"rule"}),
    "ticketrouter_agents_available": frozenset({"channel"}),
    "ticketrouter_agent_occupancy_ratio": frozenset({"channel"}),
    "ticketrouter_consumer_lag": frozenset({"partition"}),
    "ticketrouter_worker_batch_age_seconds": frozenset(),
    "ticketrouter_build_info": frozenset({"version"}),
    # fairness to agents, by team (the TICKETROUTER_TEAMS set and "other")
    "ticketrouter_team_assignment_gini": frozenset({"team"}),
    "ticketrouter_team_assignment_busiest_to_median_ratio": frozenset({"team"}),
    "ticketrouter_team_agents_counted": frozenset({"team"}),
    "ticketrouter_team_longest_busy_seconds": frozenset({"team"}),
}
# Snapshots replaced at each refresh: buckets, a count and a sum that are gauges.
GAUGE_HISTOGRAMS: dict[str, frozenset[str]] = {
    "ticketrouter_agent_occupancy_distribution_ratio": frozenset({"channel"}),
}
HISTOGRAM_SERIES = {f"{h}{s}" for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
GAUGE_HISTOGRAM_SERIES = {
    f"{h}{s}" for h in GAUGE_HISTOGRAMS for s in ("_bucket", "_gsum", "_gcount")
}
EXPOSED = frozenset(COUNTERS) | frozenset(GAUGES) | HISTOGRAM_SERIES | GAUGE_HISTOGRAM_SERIES
# Labels a query may group or match on: the closed sets, plus Prometheus' own.
LABELS = frozenset().union(
    *COUNTERS.values(), *HISTOGRAMS.values(), *GAUGES.values(), *GAUGE_HISTOGRAMS.values()
) | {
    "le",
    "job",
    "instance",
}
ALERTS = frozenset(
    {
        "TicketrouterFcrLow",
        "TicketrouterProvisionalFcrLow",
        "TicketrouterHandoffRateHigh",
        "TicketrouterRoutingLatencyHigh",
        "TicketrouterQueueWaitSlaBreached",
        "TicketrouterDeadLetters",
        "TicketrouterConsumerLagGrowing",
        "TicketrouterWorkerStalled",
        "TicketrouterEventProcessingFailed",
        "TicketrouterNoAgentForQueuedWork",
        "TicketrouterNoAgentsAvailable",
        "TicketrouterDown",
        "TicketrouterCsatHandoffGap",
        "TicketrouterOfferLapsesHigh",
        "TicketrouterAbandonmentHigh",
        "TicketrouterAssignmentsUneven",
        "TicketrouterAgentBusyWithoutBreak",
    }
)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME = re.compile(r"(?<![\w:$.])[A-Za-z_:][\w:]*")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*\"")


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _load_yaml(RULES)["groups"] for rule in group["rules"]]


def _recorded() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


def _alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in _rules() if "alert" in rule}


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # panels folded into a row


def _panel_exprs() -> list[str]:
    panels = _panels(_dashboard()["panels"])
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def _dashboard_exprs() -> list[str]:
    """Panel queries and template variable queries (e.g. label_values(metric, label))."""
    exprs = _panel_exprs()
    for variable in _dashboard()["templating"]["list"]:
        query = variable.get("query")
        if variable["type"] == "query":
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def _metric_names(expr: str) -> set[str]:
    """ticketrouter metrics and recording rules named in a PromQL expression."""
    bare = _STRING.sub('""', expr)
    return {n for n in _NAME.findall(bare) if n.startswith("ticketrouter") or ":" in n}


def _label_names(expr: str) -> set[str]:
    labels = set(_MATCHER.findall(expr))
    for group in _GROUPING.findall(_STRING.sub('""', expr)):
        labels |= {label.strip() for label in group.split(",") if label.strip()}
    return labels


def _unknown_names(exprs: list[str]) -> dict[str, set[str]]:
    recorded = _recorded()
    unknown: dict[str, set[str]] = {}
    for expr in exprs:
        names = {n for n in _metric_names(expr) if n not in EXPOSED and n not in recorded}
        if names:
            unknown[expr] = names
    return unknown


def _github_anchor(heading: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = (
            "promtool not found on PATH (Debian/Ubuntu: apt-get install prometheus): "
            "the Prometheus rules and config cannot be checked"
        )
        if os.environ.get("CI"):
            pytest.fail(message + " (CI requires it)")
        pytest.skip(message)
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["check", "rules", RULES],
        ["test", "rules", RULE_TESTS],
        ["check", "config", CONFIG],
    ],
    ids=["check-rules", "test-rules", "check-config"],
)
def test_promtool_accepts_the_kit(promtool: str, args: list[str | Path]) -> None:
    command = [promtool, *(str(a.relative_to(ROOT)) if isinstance(a, Path) else a for a in args)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    # Grafana's variables replaced by what they stand for, each query as a rule to parse
    exprs = [e.replace("$__rate_interval", "5m").replace("$channel", ".*") for e in _panel_exprs()]
    rules = [{"record": f"dashboard:query_{i}:check", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"


def test_the_service_exposes_exactly_the_contracted_metrics() -> None:
    # A metric or label renamed in the service breaks this test, and through EXPOSED
    # and LABELS the checks of the rules and the dashboard.
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    metrics.set_consumer_lag({0: 0})  # the only family without pre-initialised labels
    exposed: dict[str, frozenset[str]] = {}
    for family in registry.collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        labels = {label for sample in family.samples for label in sample.labels}
        exposed[name] = frozenset(labels - {"le"})
    assert exposed == COUNTERS | HISTOGRAMS | GAUGES | GAUGE_HISTOGRAMS


def test_rules_only_use_exposed_metrics_and_closed_labels() -> None:
    exprs = [rule["expr"] for rule in _rules()]
    assert _unknown_names(exprs) == {}
    assert {e: _label_names(e) - LABELS for e in exprs if _label_names(e) - LABELS} == {}


def test_recording_rules_follow_level_metric_operations() -> None:
    for name in _recorded():
        level, metric, operations = name.split(":")
        # the levels: all, by channel, by handoffs (CSAT), every CSAT label, by team
        assert level in {
            "ticketrouter",
            "ticketrouter_channel",
            "ticketrouter_handoffs",
            "ticketrouter_csat",
            "ticketrouter_team",
        }, name
        # a window, a constant, or max across processes (gauges of the database)
        assert metric and operations.endswith(("5m", "1h", "constant", "max")), name


def test_dashboard_parses_and_only_uses_exposed_metrics_and_closed_labels() -> None:
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] >= 39
    exprs = _dashboard_exprs()
    assert exprs
    assert _unknown_names(exprs) == {}
    assert {e: _label_names(e) - LABELS for e in exprs if _label_names(e) - LABELS} == {}


def test_dashboard_takes_its_datasource_from_the_ds_prometheus_variable() -> None:
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for panel in _panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


def test_dashboard_shows_every_recording_rule_and_every_exposed_metric() -> None:
    shown = set().union(*(_metric_names(e) for e in _dashboard_exprs()))
    # the all-channel resolution rate only guards alerts (the per-channel one is shown);
    # the FCR rate's former names stay recorded for others' dashboards, deprecated
    assert _recorded() - shown == {
        "ticketrouter:cases_resolved:rate5m",
        "ticketrouter:fcr_rate:ratio_rate5m",
        "ticketrouter_channel:fcr_rate:ratio_rate5m",
        # CSAT's building blocks and the alert's threshold
        "ticketrouter_csat:responses_net:rate1h",
        "ticketrouter_csat:points_net:rate1h",
        "ticketrouter:csat_handoff_gap:ratio_rate1h",
        "ticketrouter:csat_handoff_gap_allowed:constant",
    }
    # directly, or through the recording rules shown (histograms through their quantiles)
    for rule in _rules():
        if rule.get("record") in shown:
            shown |= _metric_names(rule["expr"])
    # (the occupancy snapshot's sum: its mean beside ticketrouter_agent_occupancy_ratio
    # would say the same twice)
    assert EXPOSED - shown == HISTOGRAM_SERIES - {f"{h}_bucket" for h in HISTOGRAMS} | {
        f"{h}_gsum" for h in GAUGE_HISTOGRAMS
    }


def test_alerts_carry_severity_annotations_and_a_runbook_section() -> None:
    alerts = _alerts()
    assert set(alerts) == ALERTS
    headings = re.findall(r"^#{1,6} +(.+?) *$", RUNBOOK.read_text(encoding="utf-8"), re.M)
    anchors = {_github_anchor(h) for h in headings}
    for name, alert in alerts.items():
        assert alert["labels"]["severity"] in {"page", "ticket"}, name
        annotations = alert["annotations"]
        assert annotations["summary"], name
        assert "$value" in annotations["description"], name
        url = annotations["runbook_url"]
        assert url == RUNBOOK_URL + _github_anchor(name), name
        assert url.removeprefix(RUNBOOK_URL) in anchors, name


def test_rule_unit_tests_cover_every_rule_both_ways() -> None:
    tests = _load_yaml(RULE_TESTS)["tests"]
    checked = " ".join(c["expr"] for t in tests for c in t.get("promql_expr_test", []))
    assert {r for r in _recorded() if r not in _metric_names(checked)} == set()
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in (c for t in tests for c in t.get("alert_rule_test", [])):
        (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert firing == ALERTS
    assert quiet == ALERTS
    # their input series are the service's metrics (or Prometheus' own `up`)
    series = {s["series"].split("{")[0] for t in tests for s in t["input_series"]}
    assert series - EXPOSED == {"up"}


def test_prometheus_config_scrapes_the_router_and_loads_the_rules() -> None:
    config = _load_yaml(CONFIG)
    assert "rules/*.yml" in config["rule_files"]
    assert RULES in set((CONFIG.parent).glob("rules/*.yml"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["ticketrouter"]["static_configs"][0]["targets"] == ["127.0.0.1:9464"]
