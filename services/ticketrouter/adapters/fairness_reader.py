"""What the fairness gauges are computed from, read in two queries
(one row per agent and channel on shift; assignments grouped by agent).

The assignments of the window come from the cases themselves (`cases.assigned_at`
and `owner_agent_id`, indexed by assigned_at) rather than from counters each process
keeps: every process's housekeeping reads the same rows, so all of them, and a
restarted one, report the same figures, and no write is added to the routing path.
What that counts: a case once, for the agent who holds it now, when its latest
assignment (to a new owner, or to its owner on another channel) began in the window.
A case handed on counts for its new owner only, one waiting again for nobody, and an
offer counts once accepted; for a window of an hour or so, against cases that take
minutes, that is the work each agent took on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select

from ticketrouter.adapters import queries
from ticketrouter.adapters.records import utc
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.fairness import AgentWork

Run = Callable[..., Any]
_a, _s, _c = queries.agents, queries.slots, queries.cases

# Everyone on shift (not offline) with their slots: the agents a team's spread counts.
_ON_SHIFT = (
    select(
        _a.c.id, _a.c.team, _a.c.presence, _a.c.busy_since, _s.c.channel, _s.c.load, _s.c.capacity
    )
    .select_from(_a.outerjoin(_s, _s.c.agent_id == _a.c.id))
    .where(_a.c.presence != Presence.OFFLINE.value)
)
# Assignments since the window began, by the agent holding the case (offline or not).
# Counted in the covering index (assigned_at, owner_agent_id) over the window's range
# only. Grouped by the bare column, SQLite (without statistics) walks every case ever
# through the owner index to spare the group a sort; grouped by an expression of it,
# which no index orders, it takes the window's range and sorts that.
_OWNER = func.coalesce(_c.c.owner_agent_id, "").label("owner")
_IN_WINDOW = (
    select(_OWNER, func.count().label("assigned"))
    .where(_c.c.assigned_at >= bindparam("since"))
    .group_by(_OWNER)
    .subquery()
)
ASSIGNED_SINCE = select(_IN_WINDOW.c.owner, _a.c.team, _IN_WINDOW.c.assigned).join_from(
    _IN_WINDOW, _a, _a.c.id == _IN_WINDOW.c.owner
)


def read_agent_work(run: Run, since: datetime) -> list[AgentWork]:
    """One AgentWork per agent on shift or assigned since `since`."""
    team: dict[str, str] = {}
    available: dict[str, bool] = {}
    busy: dict[str, datetime | None] = {}
    slots: dict[str, dict[Channel, tuple[int, int]]] = {}
    for agent_id, agent_team, presence, busy_since, channel, load, capacity in run(_ON_SHIFT):
        team[agent_id] = agent_team
        available[agent_id] = presence == Presence.AVAILABLE.value
        busy[agent_id] = utc(busy_since)
        held = slots.setdefault(agent_id, {})
        if channel is not None:
            held[Channel(channel)] = (int(load), int(capacity))
    assigned: dict[str, int] = {}
    for agent_id, agent_team, count in run(ASSIGNED_SINCE, {"since": since}):
        team.setdefault(agent_id, agent_team)
        assigned[agent_id] = int(count)
    return [
        AgentWork(
            agent_id=agent_id,
            team=agent_team,
            available=available.get(agent_id, False),
            slots=slots.get(agent_id, {}),
            busy_since=busy.get(agent_id),
            assignments=assigned.get(agent_id, 0),
        )
        for agent_id, agent_team in sorted(team.items())
    ]
