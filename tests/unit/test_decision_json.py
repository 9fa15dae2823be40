"""The decision JSON published on `routing-decisions`, built directly, is exactly
what json_format makes of the RoutingDecision message, for any decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketrouter.adapters.codec import decision_to_json, decision_to_proto
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.decisions import Decision, Explanation, Outcome
from ticketrouter.domain.requirements import AuthorityNeed, Requirements

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
SMALL = st.integers(0, 3)


@st.composite
def needs(draw: Any) -> AuthorityNeed:
    name = draw(st.sampled_from(["refund_limit", "can_waive_fees"]))
    if draw(st.booleans()):
        return AuthorityNeed(name, must_be_true=True)
    return AuthorityNeed(name, at_least=draw(st.none() | st.sampled_from([0.0, 150.0, 99.5])))


@st.composite
def decisions(draw: Any) -> Decision:
    requirements = Requirements(
        skills=tuple(draw(st.lists(st.tuples(TEXT, SMALL), max_size=2))),
        authority=tuple(draw(st.lists(needs(), max_size=2))),
        language=draw(st.none() | st.sampled_from(["", "en"])),
        teams=frozenset(draw(st.sets(TEXT, max_size=2))),
    )
    explanation = Explanation(
        rule=draw(TEXT),
        requirements=requirements,
        channel=draw(st.sampled_from(list(Channel))),
        candidates_considered=draw(SMALL),
        eligible=draw(SMALL),
        excluded_by_reason=draw(st.dictionaries(TEXT, st.integers(0, 5), max_size=2)),
        winner_reason=draw(TEXT),
        summary=draw(TEXT),
        policy_version=draw(SMALL),
        step=draw(SMALL),
        strategy=draw(st.sampled_from(["", "least_occupied"])),
        excluded_agents=tuple(draw(st.lists(st.tuples(TEXT, TEXT), max_size=2))),
    )
    micros = draw(st.sampled_from([0, 1000, 123456]))
    at = datetime(2026, 12, 2, 9, 30, tzinfo=UTC) + timedelta(microseconds=micros)
    return Decision(
        decision_id=draw(TEXT),
        event_id=draw(TEXT),
        case_id=draw(TEXT),
        customer_id=draw(TEXT),
        outcome=draw(st.sampled_from(list(Outcome))),
        agent_id=draw(st.none() | TEXT),
        channel=draw(st.sampled_from(list(Channel))),
        topic=draw(TEXT),
        priority=draw(st.integers(0, 9)),
        explanation=explanation,
        decided_at=at,
        event_time=at,
    )


@settings(max_examples=300, deadline=None)
@given(decision=decisions())
def test_the_direct_json_is_the_protobuf_json_mapping(decision: Decision) -> None:
    expected = json_format.MessageToDict(
        decision_to_proto(decision, with_context=False), preserving_proto_field_name=True
    )
    assert decision_to_json(decision) == expected
