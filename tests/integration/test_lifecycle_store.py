"""The contact lifecycle's persistence on fake, SQLite and PostgreSQL: live contacts,
the pending and abandoned statuses and the wrap-up's due time survive a round trip,
and the wrap-up is found by time, as lapsed offers are."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.builders import agent, contact
from tests.integration.conftest import UowFactory
from tests.integration.test_queue_store import DIRECT
from ticketrouter.domain.cases import CaseStatus
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.commands import AbandonContact, AdvanceQueue, EndContact
from ticketrouter.domain.decisions import Outcome
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.queue import advance_queue

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
WRAP = replace(DIRECT, wrap_up={Channel.VOICE: timedelta(seconds=30)})


def test_an_ended_call_waits_pending_through_its_wrap_up_and_an_abandoned_one_is_closed(
    uow_factory: UowFactory,
) -> None:
    with uow_factory() as uow:
        uow.repo.upsert_agent(agent("kim", {"billing": 4}, capacity={"voice": 1}))
        uow.commit()
    ana = contact(("phone", "+14155550100"), channel="voice", event_id="ana-call")
    ben = contact(("phone", "+14155550199"), channel="voice", event_id="ben-call")
    cy = contact(("phone", "+14155550142"), channel="voice", event_id="cy-call")
    with uow_factory() as uow:
        taken, waiting, gone = handle_events([ana, ben, cy], uow, T0, WRAP)
        uow.commit()
    assert taken is not None and taken.outcome is Outcome.ASSIGNED
    assert waiting is not None and gone is not None and gone.outcome is Outcome.QUEUED
    with uow_factory() as uow:
        case = uow.repo.get_case(taken.case_id)
        assert case is not None and case.live_contacts == (("ana-call", Channel.VOICE),)
        ended = EndContact("end-1", T0, "ana-call")
        left = AbandonContact("abandon-1", T0 + timedelta(seconds=9), "cy-call")
        handle_events([ended, left], uow, T0 + timedelta(seconds=10), WRAP)
        uow.commit()
    with uow_factory() as uow:
        case = uow.repo.get_case(taken.case_id)
        assert case is not None
        assert (case.status, case.owner_agent_id, case.live_contacts) == (
            CaseStatus.PENDING,
            "kim",
            (),
        )
        assert case.slot_held_until == T0 + timedelta(seconds=40)
        closed = uow.repo.get_case(gone.case_id)
        assert closed is not None and closed.status is CaseStatus.ABANDONED
        assert closed.abandoned_at == T0 + timedelta(seconds=10)
        assert [c.case_id for c in uow.repo.queued_cases(10)] == [waiting.case_id]
        assert uow.repo.open_case_ids(case.customer_id) == [case.case_id]
        assert uow.repo.open_case_ids(closed.customer_id) == []
        in_window = uow.repo.resolution_report(T0, T0 + timedelta(minutes=1), None)
        assert in_window.abandoned == 1
        assert uow.repo.resolution_report(T0, T0 + timedelta(seconds=10), None).abandoned == 0
        assert uow.repo.resolution_report(T0, T0 + timedelta(hours=1), Channel.EMAIL).abandoned == 0
        assert uow.repo.wrap_ups_over(T0 + timedelta(seconds=39), 10) == []
        [over] = uow.repo.wrap_ups_over(T0 + timedelta(seconds=40), 10)
        assert over.case_id == taken.case_id
    with uow_factory() as uow:
        [pulled] = advance_queue(AdvanceQueue(), uow, T0 + timedelta(seconds=40), WRAP)
        uow.commit()
    assert (pulled.case_id, pulled.agent_id) == (waiting.case_id, "kim")
    with uow_factory() as uow:
        kim = uow.repo.get_agent("kim")
        assert kim is not None and kim.load[Channel.VOICE] == 1
        assert uow.repo.wrap_ups_over(T0 + timedelta(hours=1), 10) == []
        # the customer is back: the pending case is theirs still (its owner is busy)
        assert uow.repo.open_case_for(taken.customer_id, taken.topic) is not None
