"""A unit of work over the in-memory repository: commit keeps the changes, rollback
(or leaving the block without committing) undoes every one of them."""

from __future__ import annotations

from ticketrouter.adapters.memory_repository import InMemoryRepository
from ticketrouter.domain.context import ContextLimits
from ticketrouter.service_layer.ports import UnitOfWork


class InMemoryUnitOfWork(UnitOfWork):
    """One transaction on a repository that outlives it, as a database does. Units run
    one at a time (the simulation is single-threaded)."""

    repo: InMemoryRepository

    def __init__(
        self, repo: InMemoryRepository, context_limits: ContextLimits | None = None
    ) -> None:
        """`context_limits`: None skips context packets, which nobody reads in a
        simulation."""
        super().__init__(context_limits)
        self.repo = repo

    def _commit(self) -> None:
        self.repo.commit()

    def rollback(self) -> None:
        self.repo.rollback()
