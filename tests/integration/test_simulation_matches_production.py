"""The simulation's path (in-memory unit of work) and the worker's (the SQL unit of
work, here on SQLite) give the same decisions for the same contacts at the same clock:
the same outcome, agent, rule and explanation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.builders import agent, contact, rules
from ticketrouter.adapters.codec import encode_decision
from ticketrouter.adapters.database import Database
from ticketrouter.adapters.memory_repository import InMemoryRepository
from ticketrouter.adapters.memory_unit_of_work import InMemoryUnitOfWork
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.domain.commands import ResolveCase
from ticketrouter.domain.decisions import Decision
from ticketrouter.domain.events import CaseRouted
from ticketrouter.service_layer.cases import resolve_case
from ticketrouter.service_layer.ports import UnitOfWork
from ticketrouter.service_layer.routing import receive_contact
from ticketrouter.service_layer.settings import RoutingSettings

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SETTINGS = RoutingSettings(rules())
TOPICS = ("billing.refund", "billing.fees", "orders.late", "tech.login", "general.question")


def _route_a_morning(new_uow: type[UnitOfWork] | object) -> list[tuple[object, ...]]:
    make = new_uow  # a callable giving a fresh unit of work
    seen: list[tuple[object, ...]] = []

    def run(handler, cmd, now):  # type: ignore[no-untyped-def]
        with make() as uow:  # type: ignore[operator]
            handler(cmd, uow, now, SETTINGS)
            events = uow.commit()
        for event in events:
            if isinstance(event, CaseRouted):
                seen.append(_facts(event.decision))

    with make() as uow:  # type: ignore[operator]
        for n, (skills, authority) in enumerate(
            [
                ({"billing": 4}, {"refund_limit": 500.0, "can_waive_fees": 1.0}),
                ({"billing": 2, "orders": 3}, {}),
                ({"technical": 4, "general": 2}, {}),
                ({"general": 1, "orders": 2}, {}),
            ]
        ):
            uow.repo.upsert_agent(agent(f"a{n}", skills, authority, capacity={"chat": 1}))
        uow.commit()
    for n in range(24):
        now = T0 + timedelta(seconds=40 * n)
        cmd = contact(
            ("email", f"c{n % 9}@example.com"),
            channel="chat",
            topic=TOPICS[n % len(TOPICS)],
            attributes={"order_value": float(50 * (n % 7))},
            event_id=f"e{n}",
            at=now,
        )
        run(receive_contact, cmd, now)
        if n % 2 == 1:  # an agent finishes the oldest contact they still hold
            with make() as uow:  # type: ignore[operator]
                cases = [
                    uow.repo.get_case(uow.repo.case_of_contact(f"e{k}") or "") for k in range(n)
                ]
            held = [c for c in cases if c is not None and c.status.value == "assigned"]
            if held:
                run(resolve_case, ResolveCase(held[0].case_id), now)
    return seen


def _facts(decision: Decision) -> tuple[object, ...]:
    e = decision.explanation
    return (
        decision.event_id,
        decision.outcome,
        decision.agent_id,
        decision.topic,
        e.rule,
        e.requirements,
        e.candidates_considered,
        e.eligible,
        e.winner_reason,
        e.summary,
    )


def test_the_same_contacts_get_the_same_decisions(database_for_contract) -> None:  # type: ignore[no-untyped-def]
    db: Database = database_for_contract("sqlite")
    memory = InMemoryRepository()
    simulated = _route_a_morning(lambda: InMemoryUnitOfWork(memory))
    produced = _route_a_morning(lambda: SqlUnitOfWork(db.writer, encode_decision))
    assert len(simulated) > 24  # contacts, and pulls after resolutions
    assert simulated == produced
