"""One database transaction per unit of work; decisions go to the outbox inside it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine, func, insert, select
from sqlmodel import Session, col

from ticketrouter.adapters.agent_profiles import AgentProfiles
from ticketrouter.adapters.kafka import OutboxMessage
from ticketrouter.adapters.orm import OutboxRow
from ticketrouter.adapters.repository import SqlRepository
from ticketrouter.domain.context import ContextLimits
from ticketrouter.domain.decisions import Decision
from ticketrouter.domain.events import CaseRouted
from ticketrouter.service_layer.ports import UnitOfWork

DecisionEncoder = Callable[[Decision], bytes]
OutboxPublisher = Callable[[Sequence[OutboxMessage]], None]


class SqlUnitOfWork(UnitOfWork):
    repo: SqlRepository

    def __init__(
        self,
        engine: Engine,
        encode_decision: DecisionEncoder | None = None,
        profiles: AgentProfiles | None = None,
        context_limits: ContextLimits | None = None,
        aging_per_minute: float = 0.0,
        publish: OutboxPublisher | None = None,
    ) -> None:
        """`publish`: given the decisions this unit of work put in the outbox, once they
        are committed (the relay's `send`); without it they wait for a relay's drain."""
        super().__init__(context_limits)
        self._publish = publish
        self._aging = aging_per_minute
        self._engine = engine
        self._encode = encode_decision
        self._profiles = profiles
        self._session: Session | None = None

    def __enter__(self) -> Self:
        super().__enter__()
        self._session = Session(self._engine, expire_on_commit=False)
        self.repo = SqlRepository(self._session, self._profiles, self._aging)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        if self._session is not None:
            self._session.close()
            self._session = None

    def _commit(self) -> None:
        assert self._session is not None, "commit outside a unit of work"
        self.repo.flush_all()
        messages: list[OutboxMessage] = []
        if self._encode is not None:
            routed = [e.decision for e in self._events if isinstance(e, CaseRouted)]
            rows: list[dict[str, Any]] = [
                {"key": d.customer_id, "payload": self._encode(d), "created_at": d.decided_at}
                for d in routed
            ]
            if rows:
                messages = [
                    OutboxMessage(row_id, decision.customer_id, payload)
                    for row_id, decision, payload in zip(
                        self._insert_outbox(rows), routed, (r["payload"] for r in rows), strict=True
                    )
                ]
        self._session.commit()
        if messages and self._publish is not None:
            self._publish(messages)

    def _insert_outbox(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert the batch's outbox rows in one statement; returns their ids in order."""
        assert self._session is not None
        connection = self._session.connection()
        if self._engine.dialect.name != "sqlite":
            # PostgreSQL returns the generated ids in parameter order from one statement.
            ids = connection.execute(
                insert(OutboxRow).returning(col(OutboxRow.id), sort_by_parameter_order=True),
                rows,
            )
            return [int(row_id or 0) for row_id in ids.scalars()]
        # SQLite cannot say which generated id belongs to which row of a multi-row
        # insert, so SQLAlchemy would insert one row per statement; the ids SQLite
        # would pick (the largest so far, plus one) are given instead. This transaction
        # holds SQLite's one writer lock (BEGIN IMMEDIATE), so nobody takes them meanwhile.
        largest = connection.execute(select(func.max(col(OutboxRow.id)))).scalar()
        first = int(largest or 0) + 1
        numbered = [{**row, "id": first + n} for n, row in enumerate(rows)]
        connection.execute(insert(OutboxRow), numbered)
        return [row["id"] for row in numbered]

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()
