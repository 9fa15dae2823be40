"""The read side of the case screens (GetCase with its context packet, ExplainDecision):
query functions over one read transaction on the reader engine, with no unit of work,
no ORM session and no repository, so they need no fake (cosmicpython's views.py).

Each statement is built once at import; a call runs them on a plain connection, which
on SQLite begins one read transaction, so the case, its handoffs and its customer's
packet come from the same snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, select

from ticketrouter.adapters import context_reader, queries
from ticketrouter.adapters.records import EPOCH, case_from_row, utc
from ticketrouter.adapters.short_ids import looks_short, the_one_begun
from ticketrouter.domain.cases import Case
from ticketrouter.domain.context import ContextLimits, ContextPacket, build_packet
from ticketrouter.domain.errors import NotFound

Run = Callable[..., Any]
Handoff = tuple[str, str | None, str, datetime]

_CASE_IDS_STARTING = (
    select(queries.cases.c.id)
    .where(queries.cases.c.id.like(bindparam("prefix")))
    .order_by(queries.cases.c.id)
    .limit(2)
)


@dataclass(frozen=True, slots=True)
class CaseView:
    """What a case screen shows: the case, its handoffs, and (when asked) its
    customer's context packet as this case sees it."""

    case: Case
    handoffs: list[Handoff]
    packet: ContextPacket | None


class ReadModel:
    """Read-only queries on the reader engine; safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _reading(self) -> Iterator[Run]:
        with self._engine.connect() as connection:
            yield connection.execute

    def case_view(
        self,
        case_id: str,
        limits: ContextLimits,
        now: datetime,
        with_context: bool = False,
        short_ok: bool = False,
    ) -> CaseView:
        """The case `case_id` names (its first characters will do with `short_ok`);
        NotFound when there is none."""
        with self._reading() as run:
            if short_ok and looks_short(case_id):
                case_id = _full_case_id(run, case_id)
            row = run(queries.CASE_BY_ID, {"case_id": case_id}).mappings().first()
            if row is None:
                raise NotFound("case", case_id)
            case = case_from_row(row)
            handoffs = [
                (f, t, r, utc(at) or EPOCH)
                for f, t, r, at in run(queries.HANDOFFS_OF, {"case_id": case_id})
            ]
            packet = None
            if with_context:
                sources = context_reader.read_sources(run, [case.customer_id], limits, now)
                if case.customer_id in sources:
                    packet = build_packet(sources[case.customer_id], limits, now).for_case(
                        case.case_id
                    )
        return CaseView(case, handoffs, packet)


def _full_case_id(run: Run, prefix: str) -> str:
    """As short_ids.full_id: the one id `prefix` begins, else `prefix` itself."""
    # Callers pass hex only, so the prefix holds no LIKE wildcard.
    matches = [found for (found,) in run(_CASE_IDS_STARTING, {"prefix": f"{prefix}%"})]
    return the_one_begun(prefix, matches, "case", "case_id")
