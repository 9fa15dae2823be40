"""Statements on the routing hot path, built once at import (no connection is
made here): building a SQLAlchemy statement costs more than SQLite running it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    DateTime,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from ticketrouter.adapters.orm import (
    AgentChannelRow,
    AgentRow,
    CaseRow,
    CustomerRow,
    HandoffRow,
    IdentityRow,
    TimelineRow,
)
from ticketrouter.domain.cases import CLOSED_STATUSES, CaseStatus
from ticketrouter.domain.channels import Presence

identities = IdentityRow.__table__  # type: ignore[attr-defined]
cases = CaseRow.__table__  # type: ignore[attr-defined]
slots = AgentChannelRow.__table__  # type: ignore[attr-defined]
agents = AgentRow.__table__  # type: ignore[attr-defined]
customers = CustomerRow.__table__  # type: ignore[attr-defined]
timeline = TimelineRow.__table__  # type: ignore[attr-defined]

OPEN_STATUSES = tuple(s.value for s in CaseStatus if s not in CLOSED_STATUSES)


def owners_of(keys: Sequence[tuple[str, str]]) -> Select[Any]:
    # OR of (kind AND value) pairs: SQLite plans a row-value IN over the composite
    # primary key as a full scan, which grows with every customer ever seen.
    by_kind: dict[str, list[str]] = {}
    for kind, value in keys:
        by_kind.setdefault(kind, []).append(value)
    # kind = ? AND value IN (...) per kind: a key range per kind on the primary key.
    # (SQLite plans a row-value IN over the composite key as a full scan.)
    return select(identities.c.kind, identities.c.value, identities.c.customer_id).where(
        or_(
            *(
                and_(identities.c.kind == kind, identities.c.value.in_(values))
                for kind, values in by_kind.items()
            )
        )
    )


def open_cases_of(customer_ids: Sequence[str]) -> Select[Any]:
    return (
        select(cases)
        .where(cases.c.customer_id.in_(customer_ids), cases.c.status.in_(OPEN_STATUSES))
        .order_by(cases.c.opened_at)
    )


def latest_resolved_of(customer_ids: Sequence[str]) -> Select[Any]:
    """The latest resolved case of each (customer, topic): what a repeat contact
    reopens, and whose owner the relationship prefers."""
    latest_first = (
        func.row_number()
        .over(
            partition_by=(cases.c.customer_id, cases.c.topic),
            order_by=(cases.c.resolved_at.desc(), cases.c.id),
        )
        .label("latest_first")
    )
    resolved = (
        select(cases, latest_first)
        .where(
            cases.c.customer_id.in_(customer_ids),
            cases.c.status == CaseStatus.RESOLVED.value,
        )
        .subquery()
    )
    return select(*[resolved.c[c.name] for c in cases.columns]).where(resolved.c.latest_first == 1)


INSERT_CUSTOMER = insert(customers)
INSERT_IDENTITY = insert(identities)
INSERT_CASE = insert(cases)

OPEN_CASE = (
    select(cases)
    .where(
        cases.c.customer_id == bindparam("customer_id"),
        cases.c.topic == bindparam("topic"),
        cases.c.status.in_(OPEN_STATUSES),
    )
    .order_by(cases.c.opened_at)
    .limit(1)
)

LAST_RESOLVED_CASE = (
    select(cases)
    .where(
        cases.c.customer_id == bindparam("customer_id"),
        cases.c.topic == bindparam("topic"),
        cases.c.status == CaseStatus.RESOLVED.value,
    )
    .order_by(cases.c.resolved_at.desc())
    .limit(1)
)

CASE_COLUMNS = [c.name for c in cases.columns if c.name not in ("id", "version")]

# Optimistic concurrency: the update applies only to the version that was read, and
# sets the version the case reached (a case saved n times in a batch is written once).
SAVE_CASE = (
    update(cases)
    .where(cases.c.id == bindparam("b_id"), cases.c.version == bindparam("b_version"))
    .values({name: bindparam(name) for name in [*CASE_COLUMNS, "version"]})
)

# PostgreSQL, at commit: the agents a transaction took or freed slots of, locked in
# one statement in agent order (a locking SELECT locks rows in its ORDER BY's order).
# Every change to an agent's slots holds this lock, so no two transactions can wait
# for each other's agents in opposite orders, and the slots read after it are exact.
LOCK_AGENTS = (
    select(agents.c.id, agents.c.presence, agents.c.units)
    .where(agents.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(agents.c.id)
    .with_for_update()
)

# PostgreSQL, at commit, under LOCK_AGENTS: the load each changed slot row is left with.
SETTLE_SLOT_LOAD = (
    update(slots)
    .where(slots.c.agent_id == bindparam("b_agent_id"), slots.c.channel == bindparam("b_channel"))
    .values(load=bindparam("b_load"))
)

# SQLite, at flush: the load a transaction leaves on a slot row it changed in memory.
# It applies only to the load the transaction read (nobody else writes meanwhile; a
# row count short of the batch's says otherwise), and a load that grew never goes
# above capacity (one that shrank always applies: capacity may have been lowered).
SET_SLOT_LOAD = (
    update(slots)
    .where(
        slots.c.agent_id == bindparam("b_agent_id"),
        slots.c.channel == bindparam("b_channel"),
        slots.c.load == bindparam("b_read"),
        or_(
            slots.c.capacity >= bindparam("b_load"),
            bindparam("b_load") <= bindparam("b_read"),
        ),
    )
    .values(load=bindparam("b_load"))
)

RELEASE_SLOT = (
    update(slots)
    .where(
        slots.c.agent_id == bindparam("b_agent_id"),
        slots.c.channel == bindparam("b_channel"),
        slots.c.load > 0,
    )
    .values(load=slots.c.load - 1)
)

_WHEN = DateTime(timezone=True)
_TOUCHED_AT = bindparam("last_assigned_at", type_=_WHEN)  # null: the agent only freed a slot
_IN_HAND = exists().where(slots.c.agent_id == agents.c.id, slots.c.load > 0)

# At commit, once per agent who took or freed a slot (see flush_all): the time of their
# last assignment, and since when they have had work in hand without a pause. The
# stretch begins at the first reservation after an idle moment, is kept while any slot
# holds work, and ends when the last one frees; read from the slots the transaction
# has written, so it holds whatever order the batch took and freed them in.
SETTLE_AGENT = (
    update(agents)
    .where(agents.c.id == bindparam("b_agent_id"))
    .values(
        last_assigned_at=func.coalesce(_TOUCHED_AT, agents.c.last_assigned_at),
        busy_since=case((_IN_HAND, func.coalesce(agents.c.busy_since, _TOUCHED_AT)), else_=None),
    )
)


def _slot_columns() -> Select[Any]:
    return select(
        slots.c.agent_id,
        slots.c.channel,
        slots.c.capacity,
        slots.c.load,
        slots.c.cost,
        slots.c.exclusive,
    )


def slots_of_agent(agent_id: str) -> Select[Any]:
    return _slot_columns().where(slots.c.agent_id == agent_id)


def slots_of_agents(agent_ids: Sequence[str]) -> Select[Any]:
    return _slot_columns().where(slots.c.agent_id.in_(agent_ids))


# Profiles come back as their stored JSON text: parsed once per change (AgentProfiles).
AGENT_COLUMNS = select(
    agents.c.id,
    agents.c.name,
    agents.c.team,
    agents.c.presence,
    agents.c.last_assigned_at,
    agents.c.units,
    cast(agents.c.skills, String).label("skills"),
    cast(agents.c.authority, String).label("authority"),
    cast(agents.c.languages, String).label("languages"),
)
AVAILABLE_AGENTS = AGENT_COLUMNS.where(agents.c.presence == Presence.AVAILABLE.value)
SLOTS_OF_AVAILABLE_AGENTS = _slot_columns().where(
    slots.c.agent_id.in_(select(agents.c.id).where(agents.c.presence == Presence.AVAILABLE.value))
)

CASE_BY_ID = select(cases).where(cases.c.id == bindparam("case_id"))

_handoffs = HandoffRow.__table__  # type: ignore[attr-defined]
HANDOFFS_OF = (
    select(_handoffs.c.from_agent_id, _handoffs.c.to_agent_id, _handoffs.c.reason, _handoffs.c.at)
    .where(_handoffs.c.case_id == bindparam("case_id"))
    .order_by(_handoffs.c.id)
)
