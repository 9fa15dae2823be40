"""The queue's persistence on fake, SQLite and PostgreSQL: plans and steps survive a
round trip, due steps and lapsed offers are found by time, offers hold a slot."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.builders import agent, contact, rules
from tests.integration.conftest import UowFactory
from ticketrouter.domain.cases import CaseStatus
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.commands import AdvanceQueue, DeclineOffer
from ticketrouter.domain.decisions import Outcome
from ticketrouter.domain.plan import ContactFacts, Plan, Step, Strategy
from ticketrouter.domain.requirements import Requirements
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.queue import advance_queue, decline_offer
from ticketrouter.service_layer.settings import RoutingSettings

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
PLAN = Plan(
    "billing",
    Requirements(skills=(("billing", 4),), language="en"),
    priority=1,
    strategy=Strategy.MOST_PROFICIENT,
    steps=(Step(30, proficiency_delta=-1, extra_teams=frozenset({"care"})),),
    policy_version=3,
)


class StaticPolicy:
    version = 3
    needs_customer = False
    rule_names = ("billing",)

    def plan_for(self, facts: ContactFacts) -> Plan:
        return PLAN


ROUTING = RoutingSettings(StaticPolicy(), offer_timeout=timedelta(seconds=20))
DIRECT = replace(ROUTING, offer_timeout=timedelta(0))


def test_a_waiting_case_keeps_its_plan_and_its_step_falls_due(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        [queued] = handle_events([contact(("email", "a@x.com"))], uow, T0, DIRECT)
        uow.commit()
    assert queued is not None and queued.outcome is Outcome.QUEUED
    with uow_factory() as uow:
        case = uow.repo.get_case(queued.case_id)
        assert case is not None and case.plan == PLAN and case.step == 0
        assert uow.repo.cases_due_a_step(T0 + timedelta(seconds=29), 10) == []
        [due] = uow.repo.cases_due_a_step(T0 + timedelta(seconds=30), 10)
        assert due.case_id == queued.case_id
    later = T0 + timedelta(seconds=31)
    with uow_factory() as uow:
        assert advance_queue(AdvanceQueue(), uow, later, DIRECT) == []  # nobody online
        uow.commit()
    with uow_factory() as uow:
        case = uow.repo.get_case(queued.case_id)
        assert case is not None and case.step == 1
        assert case.requirements.skills == (("billing", 3),)
        assert uow.repo.cases_due_a_step(later + timedelta(hours=1), 10) == []  # no more steps
        [waiting] = uow.repo.queued_cases(10)
        assert waiting.case_id == queued.case_id


def test_an_offer_holds_a_slot_lapses_on_time_and_a_decline_frees_it(
    uow_factory: UowFactory,
) -> None:
    with uow_factory() as uow:
        uow.repo.upsert_agent(agent("kim", {"billing": 4}))
        uow.repo.upsert_agent(agent("lee", {"billing": 5}, presence=Presence.OFFLINE))
        uow.commit()
    with uow_factory() as uow:
        [offered] = handle_events([contact(("email", "a@x.com"))], uow, T0, ROUTING)
        uow.commit()
    assert offered is not None and (offered.outcome, offered.agent_id) == (Outcome.OFFERED, "kim")
    with uow_factory() as uow:
        kim = uow.repo.get_agent("kim")
        assert kim is not None and kim.load[Channel.EMAIL] == 1
        assert uow.repo.lapsed_offers(T0 + timedelta(seconds=19), 10) == []
        [lapsed] = uow.repo.lapsed_offers(T0 + timedelta(seconds=20), 10)
        assert lapsed.status is CaseStatus.OFFERED and lapsed.owner_agent_id == "kim"
    with uow_factory() as uow:
        case = decline_offer(DeclineOffer(offered.case_id, "kim", "busy"), uow, T0, ROUTING)
        uow.commit()
    assert case.status is CaseStatus.QUEUED and case.declined_by == ("kim",)
    with uow_factory() as uow:
        kim = uow.repo.get_agent("kim")
        assert kim is not None and kim.load[Channel.EMAIL] == 0
        stored = uow.repo.get_case(offered.case_id)
        assert stored is not None and stored.declined_by == ("kim",)
        assert stored.last_decision is not None
        assert dict(stored.last_decision.excluded_agents)["kim"] == "declined"
        assert uow.repo.note_missed_offer("kim") == 1
        assert uow.repo.note_missed_offer("kim") == 2
        uow.repo.reset_missed_offers("kim")
        assert uow.repo.note_missed_offer("kim") == 1


def test_the_last_resolver_is_found_for_the_relationship(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        uow.repo.upsert_agent(agent("kim", {"general": 2}))
        [d] = handle_events([contact(("email", "a@x.com"))], uow, T0, RoutingSettings(rules()))
        assert d is not None
        assert uow.repo.last_resolver(d.customer_id) is None
        case = uow.repo.get_case(d.case_id)
        assert case is not None
        case.resolve("done", T0)
        uow.repo.save_case(case)
        uow.commit()
    with uow_factory() as uow:
        assert uow.repo.last_resolver(d.customer_id) == "kim"
