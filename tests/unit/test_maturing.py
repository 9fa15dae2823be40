"""Resolutions mature when their FCR window closes: each counted once, with its final
first-contact outcome, so the matured FCR rate is a share of something."""

from __future__ import annotations

from datetime import datetime

from tests.builders import agent, contact
from tests.fakes import FakeClock, FakeUnitOfWork
from tests.unit.test_routing import ANA_EMAIL, ANA_PHONE, SETTINGS, add, route
from ticketrouter.domain.cases import HandoffReason
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.commands import MatureResolutions, ResolveCase, TransferCase
from ticketrouter.domain.events import Event, FirstContactRevoked, ResolutionMatured
from ticketrouter.service_layer.cases import resolve_case, transfer_case
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.maturing import mature_resolutions

BEN_EMAIL = ("email", "ben@example.com")


def resolve(uow: FakeUnitOfWork, clock: FakeClock, case_id: str) -> None:
    with uow:
        resolve_case(ResolveCase(case_id), uow, clock.now(), SETTINGS)
        uow.commit()


def mature(uow: FakeUnitOfWork, now: datetime, limit: int = 1000) -> list[Event]:
    with uow:
        mature_resolutions(MatureResolutions(limit), uow, now, SETTINGS)
        return list(uow.commit())


def test_a_resolution_matures_once_when_its_window_closes(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("gen"))
    [first] = route(uow, clock, contact(ANA_EMAIL))
    resolve(uow, clock, first.case_id)
    resolved_at = clock.now()
    assert mature(uow, resolved_at + SETTINGS.fcr_window / 2) == []
    assert uow.repo.oldest_unmatured_resolution() == resolved_at
    assert mature(uow, resolved_at + SETTINGS.fcr_window) == [
        ResolutionMatured(Channel.EMAIL, True)
    ]
    assert mature(uow, resolved_at + SETTINGS.fcr_window * 2) == []
    assert uow.repo.oldest_unmatured_resolution() is None
    report = uow.repo.resolution_report(resolved_at, resolved_at + SETTINGS.fcr_window * 3, None)
    assert (report.matured, report.first_contact_matured, report.matured_fcr_rate) == (1, 1, 1.0)


def test_a_revoked_credit_matures_as_not_first_contact_beside_its_new_resolution(
    uow, clock
) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("gen"), agent("other"))
    [first] = route(uow, clock, contact(ANA_EMAIL))
    resolve(uow, clock, first.case_id)
    clock.advance(days=2)
    route(uow, clock, contact(ANA_PHONE, ANA_EMAIL, channel="voice", at=clock.now()))
    resolve(uow, clock, first.case_id)
    # another customer, handed off once: never first-contact resolved
    [ben] = route(uow, clock, contact(BEN_EMAIL))
    with uow:
        transfer_case(
            TransferCase(ben.case_id, HandoffReason.ESCALATION), uow, clock.now(), SETTINGS
        )
        uow.commit()
    resolve(uow, clock, ben.case_id)
    events = mature(uow, clock.now() + SETTINGS.fcr_window)
    assert sorted(e.first_contact_resolved for e in events if isinstance(e, ResolutionMatured)) == [
        False,
        False,
        False,
    ]


def test_a_matured_credit_is_final_and_a_late_repeat_revokes_nothing(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("gen"))
    [first] = route(uow, clock, contact(ANA_EMAIL))
    resolve(uow, clock, first.case_id)
    resolved_at = clock.now()
    clock.advance(days=8)
    mature(uow, clock.now())
    # an event from inside the window that arrives after the resolution matured: the
    # customer still rejoins their case, but the credit already counted as final stays
    with uow:
        [again] = handle_events([contact(ANA_EMAIL, at=resolved_at)], uow, clock.now(), SETTINGS)
        events = uow.commit()
    assert again.case_id == first.case_id
    assert not [e for e in events if isinstance(e, FirstContactRevoked)]
    report = uow.repo.resolution_report(resolved_at, clock.now() + SETTINGS.fcr_window, None)
    assert (report.first_contact, report.matured, report.first_contact_matured) == (1, 1, 1)


def test_maturing_takes_the_oldest_first_in_bounded_batches(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("gen", capacity={"email": 10}))
    for n in range(5):
        [decision] = route(uow, clock, contact(("email", f"c{n}@example.com")))
        resolve(uow, clock, decision.case_id)
        clock.advance(minutes=1)
    later = clock.now() + SETTINGS.fcr_window
    assert len(mature(uow, later, limit=2)) == 2
    assert len(mature(uow, later, limit=2)) == 2
    assert len(mature(uow, later, limit=2)) == 1
    assert mature(uow, later, limit=2) == []
