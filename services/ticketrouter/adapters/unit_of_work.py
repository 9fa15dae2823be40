"""One database transaction per unit of work; decisions go to the outbox inside it."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy import Engine, insert
from sqlmodel import Session

from ticketrouter.adapters.agent_profiles import AgentProfiles
from ticketrouter.adapters.orm import OutboxRow
from ticketrouter.adapters.repository import SqlRepository
from ticketrouter.domain.context import ContextLimits
from ticketrouter.domain.decisions import Decision
from ticketrouter.domain.events import CaseRouted
from ticketrouter.service_layer.ports import UnitOfWork

DecisionEncoder = Callable[[Decision], bytes]


class SqlUnitOfWork(UnitOfWork):
    repo: SqlRepository

    def __init__(
        self,
        engine: Engine,
        encode_decision: DecisionEncoder | None = None,
        profiles: AgentProfiles | None = None,
        context_limits: ContextLimits | None = None,
        aging_per_minute: float = 0.0,
    ) -> None:
        super().__init__(context_limits)
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
        self.repo.flush()
        if self._encode is not None:
            rows = [
                {
                    "key": e.decision.customer_id,
                    "payload": self._encode(e.decision),
                    "created_at": e.decision.decided_at,
                }
                for e in self._events
                if isinstance(e, CaseRouted)
            ]
            if rows:
                self._session.connection().execute(insert(OutboxRow), rows)
        self._session.commit()

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()
