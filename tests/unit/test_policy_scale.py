"""A policy of the largest size accepted validates with work in proportion to its size,
routes a contact without walking its `in` lists, and decides as before; a larger one
is refused before anything parses it. Work is counted, never timed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.policy_builders import BigPolicy, big_policy
from ticketrouter.adapters.rules_file import parse_policy_text, parse_stored_policy_text
from ticketrouter.cel import compilations, compiler, runtime
from ticketrouter.domain.policy import Policy
from ticketrouter.domain.policy_document import MAX_POLICY_BYTES, InvalidPolicy
from ticketrouter.service_layer.policies import (
    PolicyVersion,
    PolicyVersions,
    PolicyWatch,
    apply_policy,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def biggest() -> BigPolicy:
    return big_policy(450)


@pytest.fixture(scope="module")
def parsed(biggest: BigPolicy) -> Policy:
    return parse_policy_text(biggest.text)


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return function(*args, **kwargs)

        return counted


@pytest.fixture
def compiler_steps(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    counter = Counter()
    monkeypatch.setattr(compiler._Compiler, "node", counter.wrap(compiler._Compiler.node))
    yield counter


def test_the_generated_policy_is_the_largest_size_accepted(biggest: BigPolicy) -> None:
    size = len(biggest.text.encode())
    assert MAX_POLICY_BYTES - 4096 < size <= MAX_POLICY_BYTES
    assert len(biggest.rules) == 450


def test_validation_work_grows_in_proportion_to_the_policy(compiler_steps: Counter) -> None:
    steps: dict[int, int] = {}
    compiled: dict[int, int] = {}
    for rules in (225, 450):
        text = big_policy(rules).text
        compiler_steps.calls, before = 0, compilations()
        parse_policy_text(text)
        steps[rules], compiled[rules] = compiler_steps.calls, compilations() - before
    # Each expression is compiled once: a condition and a computed authority per rule.
    assert compiled == {225: 450, 450: 900}
    assert steps[450] <= 2.05 * steps[225]
    # One step per node of an expression, not one per precedence level of the grammar
    # around each node: 47 per rule here (it was 267).
    assert steps[450] / 450 < 100


def test_applying_a_policy_compiles_it_once(biggest: BigPolicy) -> None:
    versions = MemoryVersions()
    watch = PolicyWatch(versions, parse_stored_policy_text, current=0)
    installed: list[Policy] = []
    before = compilations()
    applied = apply_policy(versions, parse_policy_text, biggest.text, "ana", NOW)
    assert watch.poll(installed.append, applied.policy)
    assert installed == [applied.policy]
    assert compilations() - before == 900
    # Another process, which did not apply it, parses the version in force.
    other = PolicyWatch(versions, parse_stored_policy_text, current=0)
    assert other.poll(installed.append)
    assert installed[-1].rule_names == applied.policy.rule_names
    assert compilations() - before == 1800


def test_a_policy_over_the_limit_is_refused_before_it_is_parsed() -> None:
    text = big_policy(450, topics_per_rule=150).text  # the 0.98 MB of the report
    size = len(text.encode())
    before = compilations()
    with pytest.raises(InvalidPolicy) as err:
        parse_policy_text(text)
    [problem] = err.value.problems
    assert (problem.rule, problem.field) == ("-", "-")
    assert f"{size:,} bytes" in problem.reason
    assert "limit of 262,144 bytes (256 KiB)" in problem.reason
    versions = MemoryVersions()
    with pytest.raises(InvalidPolicy, match="more than the limit of 262,144 bytes"):
        apply_policy(versions, parse_stored_policy_text, text, "ana", NOW)
    assert versions.latest_number() == 0
    assert compilations() == before  # nothing got as far as a CEL expression


def test_a_version_stored_before_the_limit_still_loads() -> None:
    text = big_policy(200, topics_per_rule=150).text
    assert len(text.encode()) > MAX_POLICY_BYTES
    assert len(parse_stored_policy_text(text).rules) == 201


def test_the_big_policy_decides_as_its_rules_say(biggest: BigPolicy, parsed: Policy) -> None:
    decided = set()
    for facts in biggest.contacts(600):
        rule, refund_limit = biggest.expected(facts)
        plan = parsed.plan_for(facts)
        assert plan.rule == rule, facts
        decided.add(rule)
        limits = {n.name: n.at_least for n in plan.requirements.authority}
        if refund_limit is None:
            assert limits == {}
        else:
            assert limits == {"can_waive_fees": None, "refund_limit": refund_limit}
        assert parsed.explain(facts)[0] == plan
    assert "default" in decided
    assert len(decided) > 100  # rules from all along the policy, not only the first


def test_routing_a_contact_does_not_walk_the_in_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    comparisons = Counter()
    monkeypatch.setattr(runtime, "equals", comparisons.wrap(runtime.equals))
    short, long = big_policy(120, topics_per_rule=5), big_policy(120, topics_per_rule=60)
    counted: dict[int, int] = {}
    for big in (short, long):
        policy = parse_policy_text(big.text)
        comparisons.calls = 0
        for facts in short.contacts(200):
            # A string is looked up among the strings of a list, never compared with
            # each (another value, e.g. a null tier, is compared with each element).
            policy.plan_for(replace(facts, customer_tier=facts.customer_tier or "bronze"))
        counted[len(big.rules[0].topics)] = comparisons.calls
    assert counted[60] == counted[5] == 0


class MemoryVersions(PolicyVersions):
    def __init__(self) -> None:
        self.versions: list[PolicyVersion] = []

    def latest_number(self) -> int:
        return len(self.versions)

    def get(self, version: int) -> PolicyVersion | None:
        return self.versions[version - 1] if 0 < version <= len(self.versions) else None

    def history(self) -> list[PolicyVersion]:
        return self.versions[::-1]

    def append(
        self, source: str, author: str, note: str, now: datetime, only_if_empty: bool = False
    ) -> PolicyVersion | None:
        if only_if_empty and self.versions:
            return None
        record = PolicyVersion(len(self.versions) + 1, source, author, now, note=note)
        self.versions.append(record)
        return record
