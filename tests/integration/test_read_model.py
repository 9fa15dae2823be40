"""The read model's case view on SQLite and PostgreSQL: the same case, handoffs and
context packet the repository reads, from one read transaction and no unit of work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.builders import agent, contact, rules
from ticketrouter.adapters.codec import encode_decision
from ticketrouter.adapters.database import Database
from ticketrouter.adapters.read_model import ReadModel
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.domain.cases import HandoffReason
from ticketrouter.domain.commands import AddNote, TransferCase
from ticketrouter.domain.context import ContextLimits
from ticketrouter.domain.errors import NotFound
from ticketrouter.service_layer.cases import add_note, transfer_case
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.settings import RoutingSettings

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SETTINGS = RoutingSettings(rules())
LIMITS = ContextLimits()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Database:
    make: Callable[[str], Database] = request.getfixturevalue("database_for_contract")
    return make(request.param)


def _uow(database: Database) -> SqlUnitOfWork:
    return SqlUnitOfWork(database.writer, encode_decision, context_limits=LIMITS)


def _handed_off_case(database: Database) -> str:
    """A customer with two cases, one of them transferred once and annotated."""
    with _uow(database) as uow:
        for a in (agent("ana", capacity={"email": 5}), agent("bo", capacity={"email": 5})):
            uow.repo.upsert_agent(a)
        uow.commit()
    with _uow(database) as uow:
        first, _other = handle_events(
            [
                contact(("email", "ana@x.com"), event_id="e1"),
                contact(("email", "ana@x.com"), topic="general", event_id="e2"),
            ],
            uow,
            T0,
            SETTINGS,
        )
        uow.commit()
    assert first is not None
    for command, handler in (
        (TransferCase(first.case_id, HandoffReason.ESCALATION, None, "over to you"), transfer_case),
        (AddNote(first.case_id, "ana", "called back twice"), add_note),
    ):
        with _uow(database) as uow:
            handler(command, uow, T0 + timedelta(minutes=1), SETTINGS)  # type: ignore[operator]
            uow.commit()
    return first.case_id


def test_the_case_view_reads_what_the_repository_reads(database: Database) -> None:
    case_id = _handed_off_case(database)
    now = T0 + timedelta(minutes=2)
    view = ReadModel(database.reader).case_view(case_id, LIMITS, now, with_context=True)
    with SqlUnitOfWork(database.reader) as uow:
        case = uow.repo.get_case(case_id)
        assert case is not None
        handoffs = uow.repo.handoffs_of(case_id)
        packet = uow.repo.context_packets([case.customer_id], LIMITS, now)[case.customer_id]
    assert view.case == case
    assert view.handoffs == handoffs and len(handoffs) == 1
    assert view.packet == packet.for_case(case_id)
    assert len(view.packet.open_cases) == 2
    assert [n.text for n in view.packet.notes] == ["ana: called back twice"]


def test_without_context_no_packet_is_read(database: Database) -> None:
    case_id = _handed_off_case(database)
    view = ReadModel(database.reader).case_view(case_id, LIMITS, T0)
    assert view.case.case_id == case_id and view.packet is None


def test_a_short_id_names_its_case_and_an_unknown_one_is_not_found(database: Database) -> None:
    case_id = _handed_off_case(database)
    reads = ReadModel(database.reader)
    assert reads.case_view(case_id[:8], LIMITS, T0, short_ok=True).case.case_id == case_id
    with pytest.raises(NotFound):
        reads.case_view(case_id[:8], LIMITS, T0)  # only where a person typed it
    with pytest.raises(NotFound):
        reads.case_view("f" * 32, LIMITS, T0, short_ok=True)
