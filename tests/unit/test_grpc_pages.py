"""Pages cut by count and by bytes; page tokens that no one but us could issue."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from ticketrouter.adapters.cursors import (
    decode_cursor,
    decode_key,
    decode_number_key,
    encode_cursor,
    encode_key,
)
from ticketrouter.adapters.grpc_pages import fill_page, page_size
from ticketrouter.domain.errors import InvalidField, NotFound, echo
from ticketrouter.v1 import agents_pb2


def _agent(agent_id: str) -> agents_pb2.Agent:
    return agents_pb2.Agent(agent_id=agent_id, name="x" * 100)


def test_a_page_stops_at_its_size_and_says_more_follow() -> None:
    page, more = fill_page([f"a{n}" for n in range(5)], _agent, 3)
    assert [a.agent_id for a in page] == ["a0", "a1", "a2"] and more
    page, more = fill_page(["a0", "a1"], _agent, 3)
    assert len(page) == 2 and not more


def test_a_page_stops_at_its_byte_budget_but_always_serves_one() -> None:
    size = _agent("a0").ByteSize() + 6
    page, more = fill_page([f"a{n}" for n in range(10)], _agent, 10, budget=size * 3)
    assert len(page) == 3 and more
    page, more = fill_page(["a0", "a1"], _agent, 10, budget=1)
    assert len(page) == 1 and more


def test_page_sizes_are_bounded() -> None:
    assert page_size(0) == 100
    with pytest.raises(InvalidField, match="page_size"):
        page_size(1001)
    with pytest.raises(InvalidField, match="page_size"):
        page_size(-1)


def test_tokens_round_trip() -> None:
    at = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert decode_cursor(encode_cursor((at, 42))) == (at, 42)
    assert decode_key(encode_key("agents", "agent-7"), "agents") == "agent-7"
    assert decode_number_key(encode_key("versions", "12"), "versions") == 12


@pytest.mark.parametrize(
    "token",
    [
        "%%%",
        base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|" + b"9" * 20).decode(),
        base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|-1").decode(),
        base64.urlsafe_b64encode(b"2026-01-01T00:00:00|5").decode(),  # no zone
        "A" * 600,
    ],
)
def test_a_forged_timeline_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidField, match="page_token"):
        decode_cursor(token)


def test_a_token_of_another_list_or_a_forged_number_is_refused() -> None:
    with pytest.raises(InvalidField, match="page_token"):
        decode_key(encode_key("versions", "3"), "agents")
    with pytest.raises(InvalidField, match="page_token"):
        decode_number_key(encode_key("versions", "9" * 30), "versions")
    with pytest.raises(InvalidField, match="page_token"):
        decode_number_key(encode_key("versions", "x"), "versions")


def test_echoed_values_are_cut() -> None:
    assert echo("abc") == "'abc'"
    long = echo("z" * 20_000)
    assert len(long) < 100 and "20000 characters" in long
    assert len(str(NotFound("case", "c" * 20_000))) < 120
