"""The in-memory repository's unit of work undoes a failed handler exactly, as a
database transaction would: a simulation that hits an error mid-handler must not
go on with half its effects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.builders import agent, contact, rules
from ticketrouter.adapters.memory_repository import InMemoryRepository
from ticketrouter.adapters.memory_unit_of_work import InMemoryUnitOfWork
from ticketrouter.domain.cases import CaseStatus, HandoffReason
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.commands import TransferCase
from ticketrouter.domain.errors import ConflictingState
from ticketrouter.service_layer.cases import transfer_case
from ticketrouter.service_layer.routing import receive_contact
from ticketrouter.service_layer.settings import RoutingSettings

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SETTINGS = RoutingSettings(rules())


def test_a_handler_that_fails_halfway_leaves_nothing_behind() -> None:
    repo = InMemoryRepository()
    with InMemoryUnitOfWork(repo) as uow:
        for name in ("ana", "bob"):
            uow.repo.upsert_agent(agent(name, {"billing": 3}, capacity={"chat": 1}))
            uow.repo.set_presence(name, Presence.AVAILABLE)
        uow.commit()
    with InMemoryUnitOfWork(repo) as uow:
        decision = receive_contact(
            contact(("email", "c@example.com"), channel="chat", topic="billing.invoice"),
            uow,
            T0,
            SETTINGS,
        )
        uow.commit()
    owner = decision.agent_id
    other = "bob" if owner == "ana" else "ana"
    with InMemoryUnitOfWork(repo) as uow:  # the other agent is full
        assert uow.repo.reserve_capacity(other, Channel.CHAT, T0)
        uow.commit()
    before = (repo.get_case(decision.case_id), repo.get_agent(owner), repo.get_agent(other))

    with pytest.raises(ConflictingState), InMemoryUnitOfWork(repo) as uow:
        # Frees the owner's slot and counts a handoff, then finds the target full.
        transfer_case(
            TransferCase(decision.case_id, HandoffReason.ESCALATION, other), uow, T0, SETTINGS
        )

    assert (repo.get_case(decision.case_id), repo.get_agent(owner), repo.get_agent(other)) == before
    assert repo.handoffs_of(decision.case_id) == []
    case = repo.get_case(decision.case_id)
    assert case is not None and case.status is CaseStatus.ASSIGNED


def test_leaving_without_commit_undoes_and_commit_keeps() -> None:
    repo = InMemoryRepository()
    with InMemoryUnitOfWork(repo) as uow:
        uow.repo.upsert_agent(
            agent("ana", {"billing": 3}, capacity={"chat": 1}, presence=Presence.OFFLINE)
        )
        uow.commit()
    with InMemoryUnitOfWork(repo) as uow:
        uow.repo.mark_processed("e1", T0)
        uow.repo.set_presence("ana", Presence.AVAILABLE)
    assert repo.processed_among(["e1"]) == set()
    assert repo.get_agent("ana").presence is Presence.OFFLINE  # type: ignore[union-attr]
    with InMemoryUnitOfWork(repo) as uow:
        uow.repo.mark_processed("e1", T0)
        uow.commit()
    assert repo.processed_among(["e1"]) == {"e1"}
