"""The context packet written directly as JSON is exactly what json_format writes."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketrouter.adapters.context_messages import context_to_json, context_to_proto
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.context import CaseSummary, ContextPacket, LastAgent, NoteSummary
from ticketrouter.domain.customers import Contact, Offer

times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
text = st.text(max_size=20)
cases = st.builds(
    CaseSummary,
    text,
    text,
    st.sampled_from(["queued", "assigned", "resolved"]),
    st.none() | text,
    times,
    text,
)
contacts = st.builds(
    Contact, text, text, text, st.sampled_from(list(Channel)), text, text, times, text
)
packets = st.builds(
    ContextPacket,
    customer_id=text,
    display_name=text,
    tier=text,
    language=text,
    open_cases=st.tuples(cases),
    previous_cases=st.lists(cases, max_size=3).map(tuple),
    recent_contacts=st.lists(contacts, max_size=3).map(tuple),
    last_agent=st.none() | st.builds(LastAgent, text, text, text),
    recent_csat=st.lists(st.tuples(text, st.integers(0, 5)), max_size=3).map(tuple),
    notes=st.lists(st.builds(NoteSummary, text, times, text), max_size=3).map(tuple),
    offers=st.lists(st.builds(Offer, text, text, st.none() | times), max_size=3).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(packets)
def test_the_direct_json_matches_the_protobuf_json_mapping(packet: ContextPacket) -> None:
    expected = json_format.MessageToDict(context_to_proto(packet), preserving_proto_field_name=True)
    assert context_to_json(packet) == expected
