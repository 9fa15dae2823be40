"""Run a handler in its own unit of work, retry transient conflicts, and release
the outcomes only after the commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from ticketrouter.domain.events import Event
from ticketrouter.service_layer.ports import Clock, UnitOfWork
from ticketrouter.service_layer.settings import RoutingSettings

log = logging.getLogger(__name__)

C = TypeVar("C")
R = TypeVar("R")
Handler = Callable[[C, UnitOfWork, datetime, RoutingSettings], R]


class MessageBus:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        settings: Callable[[], RoutingSettings],
        after_commit: Callable[[Sequence[Event]], None],
        transient: Callable[[Exception], bool],
        attempts: int = 5,
    ) -> None:
        """`transient`: whether a failure is worth retrying the whole unit for
        (adapter-defined)."""
        self._transient = transient
        self._uow_factory = uow_factory
        self._clock = clock
        self._settings = settings
        self._after_commit = after_commit
        self._attempts = attempts

    def execute(self, handler: Handler[C, R], command: C) -> R:
        for attempt in range(1, self._attempts + 1):
            try:
                with self._uow_factory() as uow:
                    result = handler(command, uow, self._clock.now(), self._settings())
                    events = uow.commit()
            except Exception as err:
                if not self._transient(err) or attempt == self._attempts:
                    raise
                log.info(
                    "retrying after a conflicting transaction",
                    extra={"attempt": attempt, "error": type(err).__name__},
                )
                time.sleep(0.01 * 2**attempt)
                continue
            self._after_commit(events)
            return result
        raise AssertionError("unreachable")
