"""An index of the roster for matching in microseconds among 100,000 agents.

Each agent holds a slot; every attribute matching asks about is a bitset over the
slots (a Python int): agents with free capacity on a channel, speaking a language,
in a team, holding a skill at each level or an authority at each threshold. Blended
agents add two per channel: those whose units a contact there would not fit, and
those an exclusive channel keeps from it (domain/capacity.py); both stay empty, and
cost nothing, while no agent is blended. A
decision intersects a handful of these ints, which Python does in C a word at a
time, instead of calling a function per agent.

The winner comes from an order kept sorted by each strategy's key (least occupied,
longest idle): the first agent of that order in the eligible set wins. When few
agents are eligible, they are compared directly instead. Either way the work is
about min(E, N / E) agent steps for E eligible of N, never N.

Eligibility, reasons, counts, the agents named in the explanation and the winner
are exactly those of a scan (`matching.rank_agents` over the same agents in slot
order): the tests hold the two equal.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, overload

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.capacity import mixes_exclusive, units_fit
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.decisions import Exclusion
from ticketrouter.domain.plan import Strategy
from ticketrouter.domain.requirements import MAX_PROFICIENCY, AuthorityNeed, Requirements
from ticketrouter.domain.strategies import fairness_key, idle_key, strategy_key

# Below this many eligible agents comparing them all is cheaper than walking an order.
DIRECT_COMPARE_LIMIT = 64
_ORDERED = (Strategy.LEAST_OCCUPIED, Strategy.LONGEST_IDLE)
_ORDER_KEYS = {Strategy.LEAST_OCCUPIED: fairness_key, Strategy.LONGEST_IDLE: idle_key}


def slots_of(mask: int) -> list[int]:
    """The slot numbers set in `mask`, ascending (in C: one find per set bit)."""
    text = bin(mask)[:1:-1]
    found: list[int] = []
    at = text.find("1")
    while at >= 0:
        found.append(at)
        at = text.find("1", at + 1)
    return found


def lowest_slots(mask: int, count: int) -> list[int]:
    """The first `count` slots set in `mask`."""
    found: list[int] = []
    while mask and len(found) < count:
        low = mask & -mask
        found.append(low.bit_length() - 1)
        mask ^= low
    return found


class _Thresholds:
    """Agents holding one authority, as bitsets of `held >= value` per value held."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.at_least: list[int] = []

    @classmethod
    def of(cls, held: dict[int, float]) -> _Thresholds:
        table = cls()
        table.values = sorted(set(held.values()))
        running = 0
        at_least = [0] * len(table.values)
        by_value: dict[float, int] = {}
        for slot, value in held.items():
            by_value[value] = by_value.get(value, 0) | (1 << slot)
        for index in range(len(table.values) - 1, -1, -1):
            running |= by_value[table.values[index]]
            at_least[index] = running
        table.at_least = at_least
        return table

    def meeting(self, need: AuthorityNeed) -> int:
        if need.must_be_true:
            threshold: float | None = 1.0
        else:
            threshold = need.at_least
        if not self.values:
            return 0
        if threshold is None:
            return self.at_least[0]
        index = bisect.bisect_left(self.values, threshold)
        return self.at_least[index] if index < len(self.values) else 0


def _clear_bit(table: dict[Any, int], keep: int) -> None:
    for key in table:
        table[key] &= keep


def _set_bit(table: dict[Channel, int], channel: Channel, bit: int, on: bool) -> None:
    if on:
        table[channel] = table.get(channel, 0) | bit
    elif table.get(channel, 0) & bit:
        table[channel] &= ~bit


class RosterIndex:
    """Agents in slots, with the bitsets matching needs; loads and presence change
    in place (`set_load`, `touch`, `put`) as a transaction reserves and releases."""

    def __init__(self, agents: Iterable[Agent] = ()) -> None:
        self._agents: list[Agent | None] = []
        self._slot: dict[str, int] = {}
        self._available = 0
        self._staffed: dict[Channel, int] = {}
        self._free: dict[Channel, int] = {}
        # Blended agents only: a contact on the channel would not fit their units, or
        # would sit beside work an exclusive channel keeps apart.
        self._units_short: dict[Channel, int] = {}
        self._mixed: dict[Channel, int] = {}
        self._languages: dict[str, int] = {}
        self._teams: dict[str, int] = {}
        self._skills: dict[str, list[int]] = {}
        self._authority: dict[str, dict[int, float]] = {}
        self._thresholds: dict[str, _Thresholds] = {}
        self._keys: dict[Strategy, dict[int, tuple[Any, ...]]] = {s: {} for s in _ORDERED}
        self._orders: dict[Strategy, list[tuple[Any, ...]]] = {s: [] for s in _ORDERED}
        self._load_all(list(agents))

    def __len__(self) -> int:
        return len(self._slot)

    def get(self, agent_id: str) -> Agent | None:
        slot = self._slot.get(agent_id)
        return self._agents[slot] if slot is not None else None

    def staffed_mask(self, channel: Channel) -> int:
        return self._staffed.get(channel, 0)

    def staffed(self, channel: Channel) -> StaffedAgents:
        """The agents who work `channel` at all, as matching's candidates."""
        return StaffedAgents(self, channel)

    # -- changes ---------------------------------------------------------------

    def _load_all(self, agents: list[Agent]) -> None:
        """The first load, in bulk: one bitmap per attribute set bit by bit and
        turned into an int once (OR-ing agents into growing ints one at a time
        would copy every int per agent), and each order sorted once."""
        bitmaps: dict[tuple[Any, ...], bytearray] = {}
        size = len(agents) // 8 + 1

        def mark(key: tuple[Any, ...], slot: int) -> None:
            bitmap = bitmaps.get(key)
            if bitmap is None:
                bitmap = bitmaps[key] = bytearray(size)
            bitmap[slot >> 3] |= 1 << (slot & 7)

        # An agent listed twice keeps the first place and the later profile, as put() does.
        for agent in {a.agent_id: a for a in agents}.values():
            slot = len(self._agents)
            self._agents.append(agent)
            self._slot[agent.agent_id] = slot
            if agent.presence is Presence.AVAILABLE:
                mark(("available",), slot)
            for channel, capacity in agent.capacity.items():
                if capacity > 0:
                    mark(("staffed", channel), slot)
                if capacity > agent.load.get(channel, 0):
                    mark(("free", channel), slot)
                if agent.units and not units_fit(agent, channel):
                    mark(("units_short", channel), slot)
                if agent.exclusive_channels and mixes_exclusive(agent, channel):
                    mark(("mixed", channel), slot)
            for language in agent.languages:
                mark(("language", language), slot)
            mark(("team", agent.team), slot)
            for skill, level in agent.skills.items():
                for at_least in range(1, level + 1):
                    mark(("skill", skill, at_least), slot)
            for name, amount in agent.authority.items():
                self._authority.setdefault(name, {})[slot] = amount
            for strategy in _ORDERED:
                order_key = (*_ORDER_KEYS[strategy](agent), slot)
                self._keys[strategy][slot] = order_key
                self._orders[strategy].append(order_key)
        for key, bitmap in bitmaps.items():
            mask = int.from_bytes(bitmap, "little")
            kind = key[0]
            if kind == "available":
                self._available |= mask
            elif kind == "staffed":
                self._staffed[key[1]] = self._staffed.get(key[1], 0) | mask
            elif kind == "free":
                self._free[key[1]] = self._free.get(key[1], 0) | mask
            elif kind == "units_short":
                self._units_short[key[1]] = self._units_short.get(key[1], 0) | mask
            elif kind == "mixed":
                self._mixed[key[1]] = self._mixed.get(key[1], 0) | mask
            elif kind == "language":
                self._languages[key[1]] = self._languages.get(key[1], 0) | mask
            elif kind == "team":
                self._teams[key[1]] = self._teams.get(key[1], 0) | mask
            else:
                levels = self._skills.setdefault(key[1], [0] * (MAX_PROFICIENCY + 1))
                if key[2] >= len(levels):
                    levels.extend([0] * (key[2] + 1 - len(levels)))
                levels[key[2]] |= mask
        for order in self._orders.values():
            order.sort()

    def put(self, agent: Agent) -> None:
        """Add an agent, or replace their profile, presence and loads."""
        slot = self._slot.get(agent.agent_id)
        if slot is None:
            slot = len(self._agents)
            self._agents.append(agent)
            self._slot[agent.agent_id] = slot
        else:
            self._clear(slot)
            self._agents[slot] = agent
        bit = 1 << slot
        if agent.presence is Presence.AVAILABLE:
            self._available |= bit
        for channel, capacity in agent.capacity.items():
            if capacity > 0:
                self._staffed[channel] = self._staffed.get(channel, 0) | bit
        self._refresh_free(slot, agent)
        for language in agent.languages:
            self._languages[language] = self._languages.get(language, 0) | bit
        self._teams[agent.team] = self._teams.get(agent.team, 0) | bit
        for skill, level in agent.skills.items():
            # levels[n]: agents holding the skill at n or above (levels[0] unused).
            levels = self._skills.setdefault(skill, [0] * (MAX_PROFICIENCY + 1))
            if level >= len(levels):
                levels.extend([0] * (level + 1 - len(levels)))
            for at_least in range(1, level + 1):
                levels[at_least] |= bit
        for name, amount in agent.authority.items():
            self._authority.setdefault(name, {})[slot] = amount
            self._thresholds.pop(name, None)
        self._reorder(slot, agent)

    def remove(self, agent_id: str) -> None:
        slot = self._slot.pop(agent_id, None)
        if slot is not None:
            self._clear(slot)
            self._agents[slot] = None

    def set_load(self, agent_id: str, channel: Channel, load: int) -> None:
        agent = self.get(agent_id)
        if agent is None:
            return
        agent.load[channel] = load
        slot = self._slot[agent_id]
        self._refresh_free(slot, agent)
        self._reorder(slot, agent)

    def touch(self, agent_id: str, at: datetime) -> None:
        agent = self.get(agent_id)
        if agent is not None:
            agent.last_assigned_at = at
            self._reorder(self._slot[agent_id], agent)

    def _clear(self, slot: int) -> None:
        keep = ~(1 << slot)
        self._available &= keep
        tables = (self._staffed, self._free, self._units_short, self._mixed)
        for table in (*tables, self._languages, self._teams):
            _clear_bit(table, keep)
        for levels in self._skills.values():
            for level in range(len(levels)):
                levels[level] &= keep
        for name, held in self._authority.items():
            if held.pop(slot, None) is not None:
                self._thresholds.pop(name, None)
        for strategy in _ORDERED:
            old = self._keys[strategy].pop(slot, None)
            if old is not None:
                order = self._orders[strategy]
                del order[bisect.bisect_left(order, old)]

    def _refresh_free(self, slot: int, agent: Agent) -> None:
        bit = 1 << slot
        for channel, capacity in agent.capacity.items():
            if capacity > agent.load.get(channel, 0):
                self._free[channel] = self._free.get(channel, 0) | bit
            elif channel in self._free:
                self._free[channel] &= ~bit
        if agent.units or agent.exclusive_channels:
            # One contact more or less changes the room left on every channel.
            for channel in agent.capacity:
                _set_bit(
                    self._units_short,
                    channel,
                    bit,
                    bool(agent.units) and not units_fit(agent, channel),
                )
                _set_bit(self._mixed, channel, bit, mixes_exclusive(agent, channel))

    def _reorder(self, slot: int, agent: Agent) -> None:
        for strategy in _ORDERED:
            key = (*_ORDER_KEYS[strategy](agent), slot)
            keys = self._keys[strategy]
            order = self._orders[strategy]
            old = keys.get(slot)
            if old == key:
                continue
            if old is not None:
                del order[bisect.bisect_left(order, old)]
            bisect.insort(order, key)
            keys[slot] = key

    # -- questions -------------------------------------------------------------

    def mask_of(self, agent_ids: Iterable[str]) -> int:
        mask = 0
        for agent_id in agent_ids:
            slot = self._slot.get(agent_id)
            if slot is not None:
                mask |= 1 << slot
        return mask

    def agents_in_order(self, mask: int, count: int) -> list[Agent]:
        """The first `count` agents of `mask` in slot order."""
        return [
            agent for slot in lowest_slots(mask, count) if (agent := self._agents[slot]) is not None
        ]

    def agents_in(self, mask: int) -> list[Agent]:
        return [agent for slot in slots_of(mask) if (agent := self._agents[slot]) is not None]

    def exclusions(
        self, requirements: Requirements, channel: Channel, excluded_ids: frozenset[str]
    ) -> tuple[int, int, list[tuple[Exclusion, int]]]:
        """(candidates, eligible, [(reason, agents it excluded)]) as bitsets, the
        reasons in the order a scan checks them."""
        candidates = self._staffed.get(channel, 0)
        rest = candidates
        excluded: list[tuple[Exclusion, int]] = []

        def keep(reason: Exclusion, allowed: int) -> None:
            nonlocal rest
            dropped = rest & ~allowed
            if dropped:
                excluded.append((reason, dropped))
                rest &= allowed

        if excluded_ids:
            keep(Exclusion.DECLINED, ~self.mask_of(excluded_ids))
        keep(Exclusion.PRESENCE, self._available)
        keep(Exclusion.CAPACITY, self._free.get(channel, 0))
        if short := self._units_short.get(channel, 0):
            keep(Exclusion.CAPACITY_UNITS, ~short)
        if mixed := self._mixed.get(channel, 0):
            keep(Exclusion.CAPACITY_EXCLUSIVE, ~mixed)
        if requirements.language:
            keep(Exclusion.LANGUAGE, self._languages.get(requirements.language, 0))
        if requirements.teams:
            teams = 0
            for team in requirements.teams:
                teams |= self._teams.get(team, 0)
            keep(Exclusion.TEAM, teams)
        if requirements.skills:
            skilled = -1
            for skill, level in requirements.skills:
                if level <= 0:
                    continue  # held by everyone, with the skill or without
                levels = self._skills.get(skill, [])
                skilled &= levels[level] if level < len(levels) else 0
            keep(Exclusion.MISSING_SKILL, skilled)
        if requirements.authority:
            empowered = -1
            for need in requirements.authority:
                empowered &= self._meeting(need)
            keep(Exclusion.MISSING_AUTHORITY, empowered)
        return candidates, rest, excluded

    def _meeting(self, need: AuthorityNeed) -> int:
        table = self._thresholds.get(need.name)
        if table is None:
            table = _Thresholds.of(self._authority.get(need.name, {}))
            self._thresholds[need.name] = table
        return table.meeting(need)

    def best(self, eligible: int, strategy: Strategy, requirements: Requirements) -> Agent | None:
        """The winner among `eligible` by the strategy's key (smallest first)."""
        if not eligible:
            return None
        if strategy in _ORDERED and eligible.bit_count() > DIRECT_COMPARE_LIMIT:
            for key in self._orders[strategy]:
                slot: int = key[-1]
                if eligible >> slot & 1:
                    return self._agents[slot]
        return min(self.agents_in(eligible), key=strategy_key(strategy, requirements))


# Building the index costs about as much as ten scans of the same roster (200 agents:
# 1.5 ms against 0.13 ms a scan; 2,000 agents: 15 ms against 1.2 ms). A transaction
# that matches once (a gRPC call) scans; one that keeps matching (a worker's batch)
# builds the index after this many scans, so it never pays more than about twice
# the cheaper of the two.
INDEX_AFTER_MATCHINGS = 8


class RosterSnapshot:
    """The available roster as one transaction saw it, with the loads its own
    reservations and releases changed: scanned for the first few matchings, then
    indexed."""

    def __init__(self, agents: Iterable[Agent]) -> None:
        self._by_id = {agent.agent_id: agent for agent in agents}
        self._index: RosterIndex | None = None
        self._matchings = 0

    def get(self, agent_id: str) -> Agent | None:
        return self._by_id.get(agent_id)

    def candidates(self, channel: Channel) -> Sequence[Agent]:
        """The agents who work `channel` at all (matching checks their free room)."""
        self._matchings += 1
        if self._index is None and self._matchings > INDEX_AFTER_MATCHINGS:
            self._index = RosterIndex(self._by_id.values())
        if self._index is not None:
            return self._index.staffed(channel)
        return [a for a in self._by_id.values() if a.capacity.get(channel, 0) > 0]

    def set_load(self, agent_id: str, channel: Channel, load: int) -> None:
        if self._index is not None:
            self._index.set_load(agent_id, channel, load)
        elif (agent := self._by_id.get(agent_id)) is not None:
            agent.load[channel] = load

    def touch(self, agent_id: str, at: datetime) -> None:
        if self._index is not None:
            self._index.touch(agent_id, at)
        elif (agent := self._by_id.get(agent_id)) is not None:
            agent.last_assigned_at = at


class _AgentsOfIndex(Sequence[Agent]):
    """Agents of an index as a sequence, listed only when someone iterates them."""

    def _members(self) -> list[Agent]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Agent]:
        return iter(self._members())

    @overload
    def __getitem__(self, index: int) -> Agent: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Agent]: ...

    def __getitem__(self, index: int | slice) -> Agent | Sequence[Agent]:
        return self._members()[index]


class StaffedAgents(_AgentsOfIndex):
    """The agents of an index who work one channel, in slot order: a sequence for
    whoever iterates it, and a handle to the index for matching."""

    def __init__(self, roster: RosterIndex, channel: Channel) -> None:
        self.roster = roster
        self.channel = channel

    def _members(self) -> list[Agent]:
        return self.roster.agents_in(self.roster.staffed_mask(self.channel))

    def __len__(self) -> int:
        return self.roster.staffed_mask(self.channel).bit_count()


class EligibleAgents(_AgentsOfIndex):
    """The eligible agents of a ranking, materialised only when someone looks."""

    def __init__(self, index: RosterIndex, mask: int) -> None:
        self._index = index
        self._mask = mask
        self._count = mask.bit_count()
        self._agents: list[Agent] | None = None

    def _members(self) -> list[Agent]:
        if self._agents is None:
            self._agents = self._index.agents_in(self._mask)
        return self._agents

    def __len__(self) -> int:
        return self._count

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._mask)
