"""RoutingConfigService over a real gRPC server (port 0) on a SQLite file: what an
operations person does with policies, and what a platform sees go wrong."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from sqlalchemy import text

from tests.builders import RULES_FILE, event_proto
from tests.policy_builders import big_policy
from ticketrouter.bootstrap import App
from ticketrouter.entrypoints.grpc_server import create_server
from ticketrouter.v1 import agents_pb2, agents_pb2_grpc, config_pb2, config_pb2_grpc

FILE_SOURCE = RULES_FILE.read_text(encoding="utf-8")
V2 = FILE_SOURCE.replace("skills: {billing: 3}", "skills: {billing: 2}")
INVALID = """
skills: [billing]
rules:
  - name: vip
    when: customer.age > 60
    skills: {billing: 2}
  - name: default
    skills: {billing: 9}
"""


@pytest.fixture
def channel(app: App) -> Iterator[grpc.Channel]:
    server, port, _health = create_server(app, "127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    server.stop(0).wait()


@pytest.fixture
def config(channel: grpc.Channel) -> config_pb2_grpc.RoutingConfigServiceStub:
    return config_pb2_grpc.RoutingConfigServiceStub(channel)  # type: ignore[no-untyped-call]


def refused(call: object) -> grpc.RpcError:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as err:
        return err
    raise AssertionError("the call was expected to fail")


def test_the_policy_in_force_is_version_1_from_the_rules_file(
    config: config_pb2_grpc.RoutingConfigServiceStub,
) -> None:
    policy = config.GetActivePolicy(config_pb2.GetActivePolicyRequest())
    assert (policy.version, policy.author, policy.source) == (1, "bootstrap", FILE_SOURCE)
    refunds = policy.rules[0]
    assert refunds.name == "refunds"
    assert refunds.when == 'contact.topic == "billing.refund"'
    assert "max(50.0" in refunds.computed_authority["refund_limit"]
    assert [(s.skill, s.min_proficiency) for s in refunds.skills] == [("billing", 3)]
    assert policy.rules[-1].when == ""
    assert list(policy.skills) == ["billing", "general", "orders", "security", "technical"]
    assert policy.created_at.seconds > 0


def test_validation_warns_of_a_rule_that_can_never_match(
    config: config_pb2_grpc.RoutingConfigServiceStub,
) -> None:
    draft = FILE_SOURCE.replace(
        'when: contact.topic == "billing.fees"',
        'when: contact.topic == "billing.fees" && contact.attributes.disputes * 2 > 3',
    )
    verdict = config.ValidatePolicy(config_pb2.ValidatePolicyRequest(source=draft))
    assert verdict.valid and not verdict.errors
    [warning] = verdict.warnings
    assert (warning.rule, warning.field) == ("fee-disputes", "when")
    assert warning.reason.startswith("the rule can never match: `contact.attributes.disputes * 2`")
    assert warning.reason.endswith("write 2.0 for 2, or int(contact.attributes.disputes)")
    clean = config.ValidatePolicy(config_pb2.ValidatePolicyRequest(source=FILE_SOURCE))
    assert clean.valid and not clean.warnings


def test_an_invalid_policy_is_refused_with_rule_field_and_reason(
    app: App, config: config_pb2_grpc.RoutingConfigServiceStub
) -> None:
    verdict = config.ValidatePolicy(config_pb2.ValidatePolicyRequest(source=INVALID))
    assert not verdict.valid
    assert [(e.rule, e.field) for e in verdict.errors] == [
        ("vip", "when"),
        ("default", "skills.billing"),
    ]
    assert verdict.errors[0].reason.startswith("unknown field customer.age")
    err = refused(
        lambda: config.ApplyPolicy(config_pb2.ApplyPolicyRequest(source=INVALID, author="ana"))
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("source: rule 'vip', field 'when': unknown field customer.age")
    assert "rule 'default', field 'skills.billing': proficiency must be 1..5" in err.details()
    assert config.GetActivePolicy(config_pb2.GetActivePolicyRequest()).version == 1
    assert app.routing.policy.version == 1


def test_applying_needs_an_author(config: config_pb2_grpc.RoutingConfigServiceStub) -> None:
    err = refused(lambda: config.ApplyPolicy(config_pb2.ApplyPolicyRequest(source=V2)))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("author: required")


def test_apply_then_read_list_and_roll_back(
    app: App, config: config_pb2_grpc.RoutingConfigServiceStub
) -> None:
    applied = config.ApplyPolicy(config_pb2.ApplyPolicyRequest(source=V2, author="ana"))
    assert (applied.version, applied.author) == (2, "ana")
    assert app.routing.policy.version == 2  # this process at once
    active = config.GetActivePolicy(config_pb2.GetActivePolicyRequest())
    assert (active.version, active.source) == (2, V2)
    assert [(s.skill, s.min_proficiency) for s in active.rules[0].skills] == [("billing", 2)]
    listed = config.ListPolicyVersions(config_pb2.ListPolicyVersionsRequest())
    assert [(v.version, v.author) for v in listed.versions] == [(2, "ana"), (1, "bootstrap")]
    assert "+    skills: {billing: 2}" in listed.versions[0].diff
    assert not listed.versions[0].rules  # the list carries history, not summaries
    latest = config.ListPolicyVersions(config_pb2.ListPolicyVersionsRequest(limit=1))
    assert [v.version for v in latest.versions] == [2]

    rolled = config.RollbackPolicy(config_pb2.RollbackPolicyRequest(version=1, author="ben"))
    assert (rolled.version, rolled.note, rolled.source) == (3, "rollback to v1", FILE_SOURCE)
    assert app.routing.policy.version == 3
    missing = refused(
        lambda: config.RollbackPolicy(config_pb2.RollbackPolicyRequest(version=42, author="ben"))
    )
    assert missing.code() is grpc.StatusCode.NOT_FOUND
    zero = refused(
        lambda: config.RollbackPolicy(config_pb2.RollbackPolicyRequest(version=0, author="ben"))
    )
    assert zero.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert zero.details().startswith("version:")


def test_a_dry_run_explains_a_draft_and_changes_nothing(
    app: App, channel: grpc.Channel, config: config_pb2_grpc.RoutingConfigServiceStub
) -> None:
    agents = agents_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
    for agent_id, level, limit in (("ana", 2, 500.0), ("ben", 3, 100.0), ("cy", 1, 900.0)):
        agents.UpsertAgent(
            agents_pb2.UpsertAgentRequest(
                agent=agents_pb2.Agent(
                    agent_id=agent_id,
                    name=agent_id,
                    team="billing",
                    skills={"billing": level},
                    authority={"refund_limit": limit},
                    languages=["en"],
                    presence="available",
                    capacity=[agents_pb2.ChannelCapacity(channel="email", capacity=2)],
                )
            )
        )
    event = event_proto("dry-1", "dora@example.com")
    event.topic = "billing.refund"
    event.attributes.update({"order_value": 300})

    draft = config.DryRun(config_pb2.DryRunRequest(source=V2, event=event))
    assert draft.explanation.rule == "refunds"
    assert draft.policy_version == 0
    assert [(e.rule, e.matched) for e in draft.evaluations] == [("refunds", True)]
    assert draft.explanation.candidates_considered == 3
    assert draft.explanation.eligible == 1  # ana: billing 2, refund limit 500
    assert dict(draft.explanation.excluded_by_reason) == {
        "missing_skill": 1,
        "missing_authority": 1,
    }
    authority = {a.name: a.at_least for a in draft.explanation.requirements.authority}
    assert authority == {"refund_limit": 300.0}
    assert draft.priority == 2

    active = config.DryRun(config_pb2.DryRunRequest(event=event))
    assert active.policy_version == 1
    assert active.explanation.eligible == 0  # billing>=3 in force: ben lacks the authority

    with app.database.reader.connect() as connection:
        for table in ("customers", "identities", "cases", "contacts", "outbox"):
            count = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            assert count == 0, table
        loads = connection.execute(text("SELECT sum(load) FROM agent_channels")).scalar_one()
        assert not loads


def test_a_dry_run_names_what_is_wrong_with_the_request(
    config: config_pb2_grpc.RoutingConfigServiceStub,
) -> None:
    missing = refused(lambda: config.DryRun(config_pb2.DryRunRequest()))
    assert missing.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert missing.details().startswith("event:")
    event = event_proto("dry-2", "not-an-email")
    bad = refused(lambda: config.DryRun(config_pb2.DryRunRequest(event=event)))
    assert bad.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "identities[0]" in bad.details()
    draft = refused(
        lambda: config.DryRun(
            config_pb2.DryRunRequest(source=INVALID, event=event_proto("d", "a@b.c"))
        )
    )
    assert draft.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert draft.details().startswith("source: rule 'vip', field 'when'")


def test_a_policy_over_256_kib_is_refused_by_every_call_that_takes_one(
    app: App, config: config_pb2_grpc.RoutingConfigServiceStub
) -> None:
    huge = big_policy(450, topics_per_rule=150).text
    calls = {
        "ValidatePolicy": lambda: config.ValidatePolicy(
            config_pb2.ValidatePolicyRequest(source=huge)
        ),
        "ApplyPolicy": lambda: config.ApplyPolicy(
            config_pb2.ApplyPolicyRequest(source=huge, author="ana")
        ),
        "DryRun": lambda: config.DryRun(
            config_pb2.DryRunRequest(source=huge, event=event_proto("d", "a@b.c"))
        ),
    }
    for name, call in calls.items():
        err = refused(call)
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, name
        assert err.details() == (
            f"source: the policy is {len(huge.encode()):,} bytes, more than the limit of "
            "262,144 bytes (256 KiB): split long `in` lists or merge rules"
        ), name
    assert app.routing.policy.version == 1
