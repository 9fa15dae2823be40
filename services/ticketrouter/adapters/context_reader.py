"""Read the sources of many customers' context packets in a handful of queries:
one per list, each limited to the last N rows per customer with a window function,
so a batch of 500 decisions costs the same few round trips as one.

The statements are built once, with expanding IN lists: building a SQLAlchemy
statement costs more than SQLite running it, and GetCase reads one packet a call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, case, func, or_, select

from ticketrouter.adapters import queries
from ticketrouter.adapters.orm import ContactRow, OfferRow, TimelineRow
from ticketrouter.adapters.records import EPOCH, contact_from_row, utc
from ticketrouter.domain.cases import CaseStatus
from ticketrouter.domain.context import CaseRecord, ContextLimits, ContextSources, NoteSummary
from ticketrouter.domain.customers import Customer, Offer
from ticketrouter.domain.timeline import EntryKind

Run = Callable[..., Any]
_STATUSES = {s.value: s for s in CaseStatus}
_CHUNK = 500
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_LIMIT: BindParameter[int] = bindparam("limit")


def _ranked(statement: Select[Any], partition: Any, order: Any) -> Select[Any]:
    """The statement's rows numbered within `partition`, most recent first, up to
    the `limit` parameter."""
    rank = func.row_number().over(partition_by=partition, order_by=order).label("rank")
    ranked = statement.add_columns(rank).subquery()
    return select(ranked).where(ranked.c.rank <= _LIMIT)


_customers_table = queries.customers
_SURVIVORS = select(_customers_table.c.id, _customers_table.c.merged_into).where(
    _customers_table.c.id.in_(_IDS)
)
_CUSTOMERS = select(
    _customers_table.c.id,
    _customers_table.c.display_name,
    _customers_table.c.tier,
    _customers_table.c.language,
).where(_customers_table.c.id.in_(_IDS))

_c = queries.cases
# The latest open and the latest closed cases, separately: an old open case must not
# be crowded out by many recent resolved ones.
_CASES = _ranked(
    select(
        _c.c.customer_id,
        _c.c.id,
        _c.c.topic,
        _c.c.status,
        _c.c.owner_agent_id,
        _c.c.opened_at,
        _c.c.assigned_at,
        _c.c.resolved_at,
        _c.c.resolution_code,
        _c.c.csat,
    ).where(_c.c.customer_id.in_(_IDS)),
    (_c.c.customer_id, case((_c.c.status.in_(queries.OPEN_STATUSES), 1), else_=0)),
    _c.c.opened_at.desc(),
)

_contacts = ContactRow.__table__  # type: ignore[attr-defined]
_CONTACTS = _ranked(
    select(_contacts).where(_contacts.c.customer_id.in_(_IDS)),
    _contacts.c.customer_id,
    _contacts.c.occurred_at.desc(),
)

_t = TimelineRow.__table__  # type: ignore[attr-defined]
_NOTES = _ranked(
    select(_t.c.customer_id, _t.c.case_id, _t.c.at, _t.c.detail).where(
        _t.c.customer_id.in_(_IDS), _t.c.kind == EntryKind.NOTE.value
    ),
    _t.c.customer_id,
    (_t.c.at.desc(), _t.c.id.desc()),
)

_o = OfferRow.__table__  # type: ignore[attr-defined]
_OFFERS = _ranked(
    select(_o).where(
        _o.c.customer_id.in_(_IDS),
        or_(_o.c.expires_at.is_(None), _o.c.expires_at > bindparam("now")),
    ),
    _o.c.customer_id,
    _o.c.added_at.desc(),
)


def read_sources(
    run: Run, customer_ids: Sequence[str], limits: ContextLimits, now: datetime
) -> dict[str, ContextSources]:
    """Sources by requested id; an id merged away maps to its survivor's sources."""
    survivors = _survivors(run, customer_ids)
    sources: dict[str, ContextSources] = {}
    live = sorted(set(survivors.values()))
    for start in range(0, len(live), _CHUNK):
        chunk = live[start : start + _CHUNK]
        customers = _customers(run, chunk)
        cases = _grouped_cases(run, chunk, limits.cases)
        contact_rows = run(_CONTACTS, {"ids": chunk, "limit": limits.contacts}).mappings()
        contacts = _group(contact_from_row(r) for r in contact_rows)
        notes = _grouped_notes(run, chunk, limits.notes)
        offers = _active_offers(run, chunk, limits.offers, now)
        for customer_id in chunk:
            if customer_id in customers:
                sources[customer_id] = ContextSources(
                    customers[customer_id],
                    cases.get(customer_id, []),
                    contacts.get(customer_id, []),
                    notes.get(customer_id, []),
                    offers.get(customer_id, []),
                )
    return {
        requested: sources[survivor]
        for requested, survivor in survivors.items()
        if survivor in sources
    }


def _survivors(run: Run, customer_ids: Sequence[str]) -> dict[str, str]:
    ids = sorted(set(customer_ids))
    found: dict[str, str] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = run(_SURVIVORS, {"ids": ids[start : start + _CHUNK]})
        found.update({customer_id: merged_into or customer_id for customer_id, merged_into in rows})
    return found


def _customers(run: Run, ids: Sequence[str]) -> dict[str, Customer]:
    rows = run(_CUSTOMERS, {"ids": list(ids)})
    return {r.id: Customer(r.id, r.display_name, r.tier, r.language) for r in rows}


def _grouped_cases(run: Run, ids: Sequence[str], limit: int) -> dict[str, list[CaseRecord]]:
    grouped: dict[str, list[CaseRecord]] = {}
    for r in run(_CASES, {"ids": list(ids), "limit": limit}):
        grouped.setdefault(r.customer_id, []).append(
            CaseRecord(
                r.id,
                r.topic,
                _STATUSES[r.status],
                r.owner_agent_id,
                utc(r.opened_at) or EPOCH,
                utc(r.assigned_at),
                utc(r.resolved_at),
                r.resolution_code,
                r.csat,
            )
        )
    return grouped


def _grouped_notes(run: Run, ids: Sequence[str], limit: int) -> dict[str, list[NoteSummary]]:
    notes: dict[str, list[NoteSummary]] = {}
    for r in run(_NOTES, {"ids": list(ids), "limit": limit}):
        notes.setdefault(r.customer_id, []).append(
            NoteSummary(r.case_id, utc(r.at) or EPOCH, r.detail)
        )
    return notes


def _active_offers(
    run: Run, ids: Sequence[str], limit: int, now: datetime
) -> dict[str, list[Offer]]:
    offers: dict[str, list[Offer]] = {}
    for r in run(_OFFERS, {"ids": list(ids), "limit": limit, "now": now}).mappings():
        offers.setdefault(r["customer_id"], []).append(
            Offer(r["code"], r["description"], utc(r["expires_at"]))
        )
    return offers


def _group(items: Any) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for item in items:
        grouped.setdefault(item.customer_id, []).append(item)
    return grouped
