from datetime import UTC, datetime, timedelta

import pytest

from ticketrouter.domain.cases import Case, CaseStatus, parse_handoff_reason
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.errors import ConflictingState, InvalidField
from ticketrouter.domain.requirements import Requirements

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _assigned() -> Case:
    case = Case(
        "c1",
        "cust",
        "billing.refund",
        "refunds",
        Requirements(),
        0,
        CaseStatus.QUEUED,
        Channel.EMAIL,
        Channel.EMAIL,
        T0,
    )
    case.assign("ana", Channel.EMAIL, T0)
    return case


def test_resolved_within_first_contact_without_handoff_is_fcr() -> None:
    case = _assigned()
    assert case.resolve("refunded", T0) is True
    assert case.first_contact_resolved


def test_a_handoff_removes_first_contact_credit() -> None:
    case = _assigned()
    assert case.hand_off() == "ana"
    case.assign("ben", Channel.EMAIL, T0)
    assert case.resolve("refunded", T0) is False
    assert case.handoff_count == 1


def test_a_second_contact_removes_first_contact_credit() -> None:
    case = _assigned()
    case.attach_contact(Channel.VOICE)
    assert case.resolve("refunded", T0) is False


def test_repeat_contact_inside_the_window_reopens_and_revokes() -> None:
    case = _assigned()
    case.resolve("refunded", T0)
    window = timedelta(days=7)
    assert case.within_fcr_window(T0 + timedelta(days=6), window)
    assert not case.within_fcr_window(T0 + timedelta(days=8), window)
    assert case.reopen(Channel.CHAT, T0 + timedelta(days=1)) is True
    assert case.status is CaseStatus.QUEUED and not case.first_contact_resolved
    assert case.contact_count == 2


def test_only_assigned_cases_resolve_or_hand_off() -> None:
    queued = Case(
        "c2",
        "cust",
        "t",
        "r",
        Requirements(),
        0,
        CaseStatus.QUEUED,
        Channel.EMAIL,
        Channel.EMAIL,
        T0,
    )
    with pytest.raises(ConflictingState):
        queued.resolve("x", T0)
    with pytest.raises(ConflictingState):
        queued.hand_off()


def test_handoff_reasons_are_a_closed_set() -> None:
    assert parse_handoff_reason("Escalation").value == "escalation"
    with pytest.raises(InvalidField) as err:
        parse_handoff_reason("lunch")
    assert err.value.field == "reason"
