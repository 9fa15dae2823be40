"""First-contact resolution made final: a resolution matures when its FCR window closes
without a repeat contact having taken its credit back.

Credits are given when a case resolves and may be revoked for a week after, so a rate
of credits net of revocations over a short window is not a share of anything (it goes
negative when revocations of earlier credits outnumber new ones). Counting each
resolution once more when its outcome is final gives a share that is: of the
resolutions that matured, how many were first-contact resolved.

Maturing is driven from the database by every process's housekeeping tick: the row is
marked in the same transaction that reports it, so a resolution is counted exactly once
across processes and restarts, and one that matured while every process was down is
counted by the first tick after.
"""

from __future__ import annotations

from datetime import datetime

from ticketrouter.domain.commands import MatureResolutions
from ticketrouter.domain.events import ResolutionMatured
from ticketrouter.service_layer.ports import UnitOfWork
from ticketrouter.service_layer.settings import RoutingSettings


def mature_resolutions(
    cmd: MatureResolutions, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> int:
    """Mature the resolutions whose FCR window closed by `now`; returns how many."""
    matured = uow.repo.mature_resolutions(now - settings.fcr_window, now, cmd.limit)
    for channel, first_contact in matured:
        uow.emit(ResolutionMatured(channel, first_contact))
    return len(matured)
