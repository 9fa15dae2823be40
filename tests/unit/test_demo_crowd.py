"""The demo's crowd and rota: distinct people the router cannot confuse, and shifts that
never leave a case without an agent empowered to take it."""

from __future__ import annotations

from ticketrouter.domain.identity import normalise_identity
from ticketrouter.entrypoints.demo.people import CROWD_SIZE, demo_people
from ticketrouter.entrypoints.demo.roster import demo_agents
from ticketrouter.entrypoints.demo.shift import ROTATION, Rota


def test_no_two_people_share_an_identity() -> None:
    people = demo_people()
    assert len(people) == CROWD_SIZE
    for kind, values in {
        "email": [p.email for p in people],
        "phone": [p.phone for p in people],
        "chat": [p.chat for p in people],
        "loyalty": [p.loyalty for p in people],
    }.items():
        assert len({normalise_identity(kind, v).value for v in values}) == len(people), kind


def test_each_shift_change_sends_one_agent_off_and_brings_one_back() -> None:
    rota = Rota()
    assert rota.changes(30) == (frozenset(), frozenset())
    assert rota.changes(60) == (frozenset(ROTATION[:2]), frozenset())
    for change in range(2, 30):
        leaving, back = rota.changes(change * rota.change_every_s)
        assert len(leaving) == len(back) == 1
        assert len(rota.off_shift(change * rota.change_every_s)) == 2


def test_whoever_is_off_shift_every_scarce_power_stays_on_line() -> None:
    roster = demo_agents()
    assert sorted(ROTATION) == sorted(a.agent_id for a in roster)
    rota = Rota()
    for change in range(1, len(ROTATION) + 1):
        off = rota.off_shift(change * rota.change_every_s)
        on = [a for a in roster if a.agent_id not in off]
        for language in ("en", "es", "fr"):
            speakers = [a for a in on if language in a.languages]
            assert any(a.authority.get("refund_limit", 0) >= 1000 for a in speakers), language
            assert any(a.authority.get("can_unlock_account") for a in speakers), language
            assert any(a.authority.get("can_waive_fees") for a in speakers), language
