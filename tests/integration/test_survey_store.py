"""CSAT answers on the fake, SQLite and PostgreSQL: counted once by event id, a later
answer for the same case replaces the earlier one (a late, older one replaces
nothing), and the report's net figures are what the events told the counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.builders import agent, contact, rules
from tests.integration.conftest import UowFactory
from ticketrouter.domain.cases import HandoffReason
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.commands import RecordSurvey, ResolveCase, TransferCase
from ticketrouter.domain.events import SurveyCounted
from ticketrouter.domain.surveys import CsatTally, HandoffBand
from ticketrouter.service_layer.cases import resolve_case, transfer_case
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.settings import RoutingSettings

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SETTINGS = RoutingSettings(rules())


def _survey(event_id: str, case_id: str, score: int, minutes: int) -> RecordSurvey:
    return RecordSurvey(event_id, T0 + timedelta(minutes=minutes), case_id, score)


def _cases(uow_factory: UowFactory) -> tuple[str, str]:
    """One case resolved at first contact, one resolved after a handoff."""
    with uow_factory() as uow:
        uow.repo.upsert_agent(agent("ana"))
        uow.repo.upsert_agent(agent("ben"))
        first, handed = handle_events(
            [contact(("email", "a@x.com")), contact(("email", "b@x.com"), channel="chat")],
            uow,
            T0,
            SETTINGS,
        )
        assert first is not None and handed is not None
        transfer_case(TransferCase(handed.case_id, HandoffReason.ESCALATION), uow, T0, SETTINGS)
        for case_id in (first.case_id, handed.case_id):
            resolve_case(ResolveCase(case_id), uow, T0, SETTINGS)
        uow.commit()
    return first.case_id, handed.case_id


def _apply(
    uow_factory: UowFactory, surveys: list[RecordSurvey], now: datetime
) -> list[SurveyCounted]:
    with uow_factory() as uow:
        handle_events(surveys, uow, now, SETTINGS)
        return [e for e in uow.commit() if isinstance(e, SurveyCounted)]


def test_answers_count_once_replace_earlier_ones_and_the_report_nets_them(
    uow_factory: UowFactory,
) -> None:
    fcr_case, handed_case = _cases(uow_factory)
    later = T0 + timedelta(hours=1)
    events = _apply(
        uow_factory,
        [
            _survey("s1", fcr_case, 5, 1),
            _survey("s2", handed_case, 2, 1),
            _survey("s3", handed_case, 3, 2),  # replaces s2, in the same batch
        ],
        T0,
    )
    events += _apply(
        uow_factory,
        [
            _survey("s1", fcr_case, 5, 1),  # delivered again: nothing
            _survey("s0", handed_case, 1, 0),  # older than s3: replaces nothing
            _survey("s4", fcr_case, 4, 3),  # replaces s1, an hour later
        ],
        later,
    )
    assert [(e.answer.event_id, e.replaces and e.replaces.event_id) for e in events] == [
        ("s1", None),
        ("s2", None),
        ("s3", "s2"),
        ("s4", "s1"),
    ]
    s1 = events[0].answer
    assert (s1.channel, s1.band, s1.first_contact) == (Channel.EMAIL, HandoffBand.NONE, True)
    assert events[2].answer.band is HandoffBand.ONE and not events[2].answer.first_contact

    with uow_factory() as uow:
        everything = uow.repo.resolution_report(T0, later + timedelta(seconds=1), None).csat
        first_hour = uow.repo.resolution_report(T0, later, None).csat
        second_hour = uow.repo.resolution_report(later, later + timedelta(seconds=1), None).csat
        chat = uow.repo.resolution_report(T0, later + timedelta(seconds=1), Channel.CHAT).csat
    # In force: s4 (4, first contact) and s3 (3, one handoff).
    assert everything.overall == CsatTally(2, 7)
    assert everything.first_contact == CsatTally(1, 4)
    assert everything.handed_off == CsatTally(1, 3)
    assert everything.by_handoffs == {
        HandoffBand.NONE: CsatTally(1, 4),
        **{HandoffBand.ONE: CsatTally(1, 3)},
    }
    assert everything.by_channel == {Channel.EMAIL: CsatTally(1, 4), Channel.CHAT: CsatTally(1, 3)}
    # Windows add up as the counters' increases do: s1 and s3 in force after the first
    # hour; the second hour counts s4 and takes s1 back.
    assert first_hour.overall == CsatTally(2, 8)
    assert second_hour.overall == CsatTally(0, -1)
    assert second_hour.first_contact == CsatTally(0, -1)
    assert chat.overall == CsatTally(1, 3) and chat.by_channel.keys() == {Channel.CHAT}
