"""A simulation scenario: who works when, what traffic arrives, and how people behave.

A scenario is a YAML file; paths in it (the policy, a traffic file) are relative to it.

```yaml
start: 2026-12-01T08:00:00Z   # the virtual clock's start (UTC unless an offset is given)
duration: 8h                  # how long arrivals come in (s, m, h, d suffixes)
warm_up: 0                    # simulated before start, not reported (steady state)
interval: 30m                 # report interval: 15m or 30m (any length 1m..1d works)
service_level_seconds: 20     # the service-level threshold
fcr_window: 7d                # a repeat contact inside it revokes first-contact credit
replications: 10              # independent runs; figures are their means
seed: 42                      # replication r uses seed + r
policy: routing-rules.yaml    # the routing policy (the same YAML `rules validate` reads)
aging_per_minute: 0.1         # queue aging, as TICKETROUTER_AGING_PER_MINUTE (its default)
roster:
  - id: ana                   # one agent ...
    team: billing
    skills: {billing: 3}
    authority: {refund_limit: 200}
    languages: [en, es]
    capacity: {voice: 1, chat: 3}
    units: 100                # blended capacity (absent: slots alone): a call costs
    cost: {voice: 100, chat: 20}   # the whole desk, a chat a fifth of it
    exclusive: [voice]        # while on a call, nothing else is offered
    shifts:                   # absent: online the whole run
      - {daily: "08:00-16:00"}                      # every day, in UTC
      - {start: 2026-12-02T09:00:00Z, end: 2026-12-02T12:00:00Z}
  - id: voice                 # ... or `count` identical agents voice-01 .. voice-30
    count: 30
    skills: {general: 1}
    capacity: {voice: 1}
traffic:
  file: contacts.jsonl        # contact.received events (the Kafka contract's JSON),
                              # each optionally with handle_seconds / patience_seconds
                              # (see traffic_file.py); read once, whole, at load
  # and/or generated Poisson arrivals, one stream per topic and channel:
  generated:
    - topic: general.question
      channel: voice
      language: en
      per_interval: [100, 120, 90]   # expected arrivals in each interval, repeating;
                                     # or `per_hour: 200` for a constant rate
      handle: {exponential: 180}     # seconds; also {constant: s}, {uniform: [a, b]},
                                     # {lognormal: {mean: m, sd: s}}, {empirical: [...]}
      patience: {exponential: 300}   # absent: customers never give up
      repeat: {probability: 0.1, after: {exponential: 86400}}  # repeat contacts (FCR)
  handle: {exponential: 300}         # defaults for file events without their own
  patience: null
behaviour:
  offer_timeout: 0            # seconds; > 0: every assignment is an offer to answer
  accept: 0.95                # with offers on: shares of accept / decline / let lapse
  decline: 0.03
  lapse: 0.02
  answer: {constant: 2}       # seconds an agent takes to accept or decline
  transfer: {default: 0.0, billing.refund: 0.1}   # share of cases handed off, by topic
  wrap_up: {voice: 30}        # seconds the slot stays held after a contact ended, by
                              # channel, as TICKETROUTER_WRAP_UP_SECONDS (absent: none)
```

`load_scenario(path)` parses and validates it; every problem raises ScenarioError naming
the field (`roster[2].capacity.voice`) and the reason. The dataclasses are the format's
stable model: other commands (the bank converter, the report) build and read them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml

from ticketrouter.config import Settings
from ticketrouter.domain.agents import MAX_UNITS, Agent
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.errors import InvalidField, parse_choice
from ticketrouter.entrypoints.simulate.traffic_file import (
    FileTraffic,
    TrafficFileError,
    read_traffic_file,
)

MAX_REPLICATIONS = 1000
# Production's own default, so a scenario that names none is routed as deployed.
DEFAULT_AGING_PER_MINUTE = Settings().aging_per_minute


class ScenarioError(ValueError):
    """A scenario that cannot run: `field` is its path in the file."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Distribution:
    """Seconds drawn at random: `kind` is constant, exponential, uniform, lognormal or
    empirical; `params` are its numbers (value; mean; low, high; mean, sd; samples)."""

    kind: str
    params: tuple[float, ...]

    @property
    def mean(self) -> float:
        if self.kind == "uniform":
            return (self.params[0] + self.params[1]) / 2
        if self.kind == "empirical":
            return sum(self.params) / len(self.params)
        return self.params[0]


@dataclass(frozen=True, slots=True)
class Shift:
    """Online from `start` to `end` (absolute), or every day between two UTC times."""

    start: datetime | None = None
    end: datetime | None = None
    daily: tuple[time, time] | None = None

    def spans(self, since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
        """The stretches of this shift that fall inside [since, until)."""
        if self.daily is None:
            assert self.start is not None and self.end is not None
            begin, end = max(self.start, since), min(self.end, until)
            return [(begin, end)] if begin < end else []
        spans = []
        day = since.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
        while day < until:
            begin = datetime.combine(day.date(), self.daily[0], UTC)
            end = datetime.combine(day.date(), self.daily[1], UTC)
            if end <= begin:  # a night shift ends the next day
                end += timedelta(days=1)
            begin, end = max(begin, since), min(end, until)
            if begin < end:
                spans.append((begin, end))
            day += timedelta(days=1)
        return spans


@dataclass(frozen=True, slots=True)
class RosterAgent:
    agent: Agent  # the profile routing sees (presence is driven by the shifts)
    shifts: tuple[Shift, ...] = ()  # empty: online for the whole run


@dataclass(frozen=True, slots=True)
class Repeat:
    """A customer comes back on the same topic `after` seconds with `probability`."""

    probability: float
    after: Distribution


@dataclass(frozen=True, slots=True)
class ArrivalStream:
    """Poisson arrivals of one topic on one channel."""

    topic: str
    channel: Channel
    per_interval: tuple[float, ...]  # expected arrivals per report interval, repeating
    handle: Distribution
    patience: Distribution | None = None  # None: infinitely patient
    language: str = "en"
    attributes: Mapping[str, object] = field(default_factory=dict)
    repeat: Repeat | None = None
    per_hour: float | None = None  # a constant rate instead of per_interval

    def expected_per_interval(self, interval: timedelta) -> tuple[float, ...]:
        """Expected arrivals in each report interval, repeating over the run."""
        if self.per_hour is not None:
            return (self.per_hour * interval.total_seconds() / 3600.0,)
        return self.per_interval


@dataclass(frozen=True, slots=True)
class Traffic:
    file: Path | None = None  # JSON lines of contact.received events
    generated: tuple[ArrivalStream, ...] = ()
    handle: Distribution = Distribution("exponential", (300.0,))  # file events' default
    patience: Distribution | None = None
    recorded: FileTraffic = field(default_factory=FileTraffic)  # the file's events


@dataclass(frozen=True, slots=True)
class Behaviour:
    offer_timeout_seconds: float = 0.0
    accept: float = 1.0
    decline: float = 0.0
    lapse: float = 0.0
    answer: Distribution = Distribution("constant", (0.0,))
    transfer: Mapping[str, float] = field(default_factory=dict)  # topic or "default"
    wrap_up_seconds: Mapping[Channel, float] = field(default_factory=dict)

    def transfer_probability(self, topic: str) -> float:
        return self.transfer.get(topic, self.transfer.get("default", 0.0))


@dataclass(frozen=True, slots=True)
class Scenario:
    start: datetime
    duration: timedelta
    interval: timedelta
    roster: tuple[RosterAgent, ...]
    traffic: Traffic
    policy_file: Path
    service_level_seconds: float = 20.0
    fcr_window: timedelta = timedelta(days=7)
    replications: int = 1
    seed: int = 1
    behaviour: Behaviour = field(default_factory=Behaviour)
    name: str = ""
    # Simulated before `start` but not reported: a center that opens empty waits less
    # than one in steady state, for hours when it runs near full (see the Erlang test).
    warm_up: timedelta = timedelta(0)
    # Waiting raises a case this many priority levels a minute, as in production.
    aging_per_minute: float = DEFAULT_AGING_PER_MINUTE

    @property
    def end(self) -> datetime:
        return self.start + self.duration


def load_scenario(path: Path) -> Scenario:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ScenarioError("-", f"not valid YAML: {err}") from None
    except OSError as err:
        raise ScenarioError("-", f"cannot read {path}: {err.strerror}") from None
    return parse_scenario(document, path.parent, path.stem)


def parse_scenario(document: object, base: Path, name: str = "") -> Scenario:
    """`base`: the folder relative paths in the scenario start from."""
    doc = _mapping(document, "scenario")
    _known(doc, "scenario", _SCENARIO_KEYS)
    start = _datetime(doc.get("start", "2026-12-01T00:00:00Z"), "start")
    interval = _duration(doc.get("interval", "30m"), "interval")
    if not timedelta(minutes=1) <= interval <= timedelta(days=1):
        raise ScenarioError("interval", "must be between 1m and 1d")
    duration = _duration(_required(doc, "duration", "scenario"), "duration")
    if duration <= timedelta(0):
        raise ScenarioError("duration", "must be positive")
    replications = _int(doc.get("replications", 1), "replications", 1, MAX_REPLICATIONS)
    policy = base / str(_required(doc, "policy", "scenario"))
    if not policy.is_file():
        raise ScenarioError("policy", f"no such file: {policy}")
    warm_up = _duration(doc.get("warm_up", 0), "warm_up")
    roster = _roster(_required(doc, "roster", "scenario"), start)
    traffic = _traffic(_required(doc, "traffic", "scenario"), base)
    return Scenario(
        start=start,
        duration=duration,
        interval=interval,
        roster=roster,
        traffic=_recorded(traffic, start - warm_up, start + duration),
        policy_file=policy,
        service_level_seconds=_number(
            doc.get("service_level_seconds", 20), "service_level_seconds", 0.0
        ),
        fcr_window=_duration(doc.get("fcr_window", "7d"), "fcr_window"),
        replications=replications,
        seed=_int(doc.get("seed", 1), "seed", 0, 2**63),
        behaviour=_behaviour(doc.get("behaviour", {})),
        name=str(doc.get("name", name)),
        warm_up=warm_up,
        aging_per_minute=_number(
            doc.get("aging_per_minute", DEFAULT_AGING_PER_MINUTE), "aging_per_minute", 0.0
        ),
    )


_SCENARIO_KEYS = frozenset(
    {
        "name",
        "start",
        "duration",
        "interval",
        "service_level_seconds",
        "fcr_window",
        "replications",
        "seed",
        "policy",
        "roster",
        "traffic",
        "behaviour",
        "warm_up",
        "aging_per_minute",
    }
)
_AGENT_KEYS = frozenset(
    {
        "id",
        "name",
        "team",
        "skills",
        "authority",
        "languages",
        "capacity",
        "units",
        "cost",
        "exclusive",
        "shifts",
        "count",
    }
)
_STREAM_KEYS = frozenset(
    {
        "topic",
        "channel",
        "language",
        "attributes",
        "per_interval",
        "per_hour",
        "handle",
        "patience",
        "repeat",
    }
)


def _roster(value: object, start: datetime) -> tuple[RosterAgent, ...]:
    entries = _list(value, "roster")
    if not entries:
        raise ScenarioError("roster", "needs at least one agent")
    roster: list[RosterAgent] = []
    for n, raw in enumerate(entries):
        where = f"roster[{n}]"
        entry = _mapping(raw, where)
        _known(entry, where, _AGENT_KEYS)
        base_id = str(_required(entry, "id", where))
        count = _int(entry.get("count", 1), f"{where}.count", 1, 100_000)
        ids = [base_id] if "count" not in entry else _numbered(base_id, count)
        shifts = tuple(
            _shift(s, f"{where}.shifts[{k}]")
            for k, s in enumerate(_list(entry.get("shifts", []), f"{where}.shifts"))
        )
        for agent_id in ids:
            agent = Agent(
                agent_id=agent_id,
                name=str(entry.get("name", agent_id)) if count == 1 else agent_id,
                team=str(entry.get("team", "support")),
                skills={
                    str(k): _int(v, f"{where}.skills.{k}", 1, 5)
                    for k, v in _mapping(entry.get("skills", {}), f"{where}.skills").items()
                },
                authority={
                    # a flag (`can_waive_fees: true`) is held as 1
                    str(k): 1.0 if v is True else _number(v, f"{where}.authority.{k}", 0.0)
                    for k, v in _mapping(entry.get("authority", {}), f"{where}.authority").items()
                },
                languages=frozenset(
                    str(x) for x in _list(entry.get("languages", ["en"]), f"{where}.languages")
                ),
                capacity={
                    _channel(k, f"{where}.capacity.{k}"): _int(v, f"{where}.capacity.{k}", 0, 50)
                    for k, v in _mapping(
                        entry.get("capacity", {"voice": 1}), f"{where}.capacity"
                    ).items()
                },
                presence=Presence.OFFLINE,
                units=_int(entry.get("units", 0), f"{where}.units", 0, MAX_UNITS),
                unit_costs={
                    _channel(k, f"{where}.cost.{k}"): _int(v, f"{where}.cost.{k}", 0, MAX_UNITS)
                    for k, v in _mapping(entry.get("cost", {}), f"{where}.cost").items()
                },
                exclusive_channels=frozenset(
                    _channel(str(c), f"{where}.exclusive[{k}]")
                    for k, c in enumerate(_list(entry.get("exclusive", []), f"{where}.exclusive"))
                ),
            )
            try:
                agent.validate()
            except InvalidField as err:
                raise ScenarioError(
                    f"{where}.{err.field.removeprefix('agent.')}", err.reason
                ) from None
            roster.append(RosterAgent(agent, shifts))
    seen: set[str] = set()
    for member in roster:
        if member.agent.agent_id in seen:
            raise ScenarioError("roster", f"agent id {member.agent.agent_id!r} appears twice")
        seen.add(member.agent.agent_id)
    return tuple(roster)


def _numbered(base: str, count: int) -> list[str]:
    width = len(str(count))
    return [f"{base}-{k:0{width}d}" for k in range(1, count + 1)]


def _shift(value: object, where: str) -> Shift:
    shift = _mapping(value, where)
    if "daily" in shift:
        match = re.fullmatch(r"\s*(\d\d?):(\d\d)\s*-\s*(\d\d?):(\d\d)\s*", str(shift["daily"]))
        if match is None:
            raise ScenarioError(f"{where}.daily", "write it as HH:MM-HH:MM (UTC)")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
            raise ScenarioError(f"{where}.daily", "not a time of day")
        return Shift(daily=(time(h1, m1), time(0, 0) if h2 == 24 else time(h2, m2)))
    begin = _datetime(_required(shift, "start", where), f"{where}.start")
    end = _datetime(_required(shift, "end", where), f"{where}.end")
    if end <= begin:
        raise ScenarioError(f"{where}.end", "must be after start")
    return Shift(start=begin, end=end)


def _traffic(value: object, base: Path) -> Traffic:
    doc = _mapping(value, "traffic")
    _known(doc, "traffic", frozenset({"file", "generated", "handle", "patience"}))
    file = None
    if "file" in doc:
        file = base / str(doc["file"])
        if not file.is_file():
            raise ScenarioError("traffic.file", f"no such file: {file}")
    streams = tuple(
        _stream(s, f"traffic.generated[{n}]")
        for n, s in enumerate(_list(doc.get("generated", []), "traffic.generated"))
    )
    if file is None and not streams:
        raise ScenarioError("traffic", "needs a file or generated streams")
    return Traffic(
        file=file,
        generated=streams,
        handle=_distribution(doc.get("handle", {"exponential": 300}), "traffic.handle"),
        patience=_optional_distribution(doc.get("patience"), "traffic.patience"),
    )


def _recorded(traffic: Traffic, since: datetime, until: datetime) -> Traffic:
    """The traffic file's events arriving while the run (its warm-up included) does."""
    if traffic.file is None:
        return traffic
    try:
        recorded = read_traffic_file(traffic.file, since, until)
    except TrafficFileError as err:
        raise ScenarioError(f"traffic.file {err.where}", err.reason) from None
    return replace(traffic, recorded=recorded)


def _stream(value: object, where: str) -> ArrivalStream:
    doc = _mapping(value, where)
    _known(doc, where, _STREAM_KEYS)
    if ("per_interval" in doc) == ("per_hour" in doc):
        raise ScenarioError(where, "give either per_interval or per_hour")
    per_hour = None
    per_interval: tuple[float, ...] = ()
    if "per_hour" in doc:
        per_hour = _number(doc["per_hour"], f"{where}.per_hour", 0.0)
    else:
        counts = _list(doc["per_interval"], f"{where}.per_interval")
        if not counts:
            raise ScenarioError(f"{where}.per_interval", "needs at least one count")
        per_interval = tuple(
            _number(c, f"{where}.per_interval[{k}]", 0.0) for k, c in enumerate(counts)
        )
    repeat = None
    if doc.get("repeat") is not None:
        raw = _mapping(doc["repeat"], f"{where}.repeat")
        repeat = Repeat(
            _probability(raw.get("probability", 0.0), f"{where}.repeat.probability"),
            _distribution(raw.get("after", {"exponential": 86400}), f"{where}.repeat.after"),
        )
    return ArrivalStream(
        topic=str(_required(doc, "topic", where)),
        channel=_channel(_required(doc, "channel", where), f"{where}.channel"),
        per_interval=per_interval,
        handle=_distribution(_required(doc, "handle", where), f"{where}.handle"),
        patience=_optional_distribution(doc.get("patience"), f"{where}.patience"),
        language=str(doc.get("language", "en")),
        attributes=dict(_mapping(doc.get("attributes", {}), f"{where}.attributes")),
        repeat=repeat,
        per_hour=per_hour,
    )


def _behaviour(value: object) -> Behaviour:
    doc = _mapping(value, "behaviour")
    _known(
        doc,
        "behaviour",
        frozenset({"offer_timeout", "accept", "decline", "lapse", "answer", "transfer", "wrap_up"}),
    )
    shares = {
        k: _probability(doc.get(k, d), f"behaviour.{k}")
        for k, d in (("accept", 1.0), ("decline", 0.0), ("lapse", 0.0))
    }
    if "accept" not in doc:
        shares["accept"] = max(0.0, 1.0 - shares["decline"] - shares["lapse"])
    if not math.isclose(sum(shares.values()), 1.0, abs_tol=1e-6):
        raise ScenarioError("behaviour", "accept, decline and lapse must add up to 1")
    transfer = {
        str(k): _probability(v, f"behaviour.transfer.{k}")
        for k, v in _mapping(doc.get("transfer", {}), "behaviour.transfer").items()
    }
    return Behaviour(
        offer_timeout_seconds=_number(doc.get("offer_timeout", 0), "behaviour.offer_timeout", 0.0),
        accept=shares["accept"],
        decline=shares["decline"],
        lapse=shares["lapse"],
        answer=_distribution(doc.get("answer", {"constant": 0}), "behaviour.answer"),
        transfer=transfer,
        wrap_up_seconds={
            _channel(k, f"behaviour.wrap_up.{k}"): _number(v, f"behaviour.wrap_up.{k}", 0.0)
            for k, v in _mapping(doc.get("wrap_up", {}), "behaviour.wrap_up").items()
        },
    )


_DISTRIBUTIONS = ("constant", "exponential", "uniform", "lognormal", "empirical")


def _optional_distribution(value: object, where: str) -> Distribution | None:
    return None if value is None else _distribution(value, where)


def _distribution(value: object, where: str) -> Distribution:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Distribution("constant", (_number(value, where, 0.0),))
    doc = _mapping(value, where)
    if len(doc) != 1 or next(iter(doc)) not in _DISTRIBUTIONS:
        raise ScenarioError(where, f"one of {', '.join(_DISTRIBUTIONS)}, e.g. {{exponential: 180}}")
    kind, raw = next(iter(doc.items()))
    at = f"{where}.{kind}"
    if kind in ("constant", "exponential"):
        params: tuple[float, ...] = (_number(raw, at, 0.0),)
    elif kind == "uniform":
        bounds = _list(raw, at)
        if len(bounds) != 2:
            raise ScenarioError(at, "write [low, high]")
        params = (_number(bounds[0], f"{at}[0]", 0.0), _number(bounds[1], f"{at}[1]", 0.0))
        if params[1] < params[0]:
            raise ScenarioError(at, "high must not be below low")
    elif kind == "lognormal":
        spec = _mapping(raw, at)
        params = (
            _number(spec.get("mean"), f"{at}.mean", 0.0),
            _number(spec.get("sd"), f"{at}.sd", 0.0),
        )
    else:
        samples = _list(raw, at)
        if not samples:
            raise ScenarioError(at, "needs at least one sample")
        params = tuple(_number(s, f"{at}[{k}]", 0.0) for k, s in enumerate(samples))
    return Distribution(kind, params)


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object, where: str) -> timedelta:
    """`90`, `90s`, `30m`, `8h`, `7d`."""
    return _duration(value, where)


def _duration(value: object, where: str) -> timedelta:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(str(value))
        if match is None:
            raise ScenarioError(where, f"not a duration: {value!r} (e.g. 90s, 30m, 8h, 7d)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0 or not math.isfinite(seconds):
        raise ScenarioError(where, "must be a finite, non-negative duration")
    return timedelta(seconds=seconds)


def _datetime(value: object, where: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(where, f"not an ISO 8601 time: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _channel(value: object, where: str) -> Channel:
    try:
        return parse_choice(Channel, str(value), where, "channel")
    except InvalidField as err:
        raise ScenarioError(where, err.reason) from None


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(where, "must be a mapping")
    return value


def _list(value: object, where: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise ScenarioError(where, "must be a list")
    return value


def _required(doc: Mapping[str, Any], key: str, where: str) -> object:
    if doc.get(key) is None:
        raise ScenarioError(f"{where}.{key}" if where != "scenario" else key, "is required")
    return doc[key]


def _known(doc: Mapping[str, Any], where: str, keys: frozenset[str]) -> None:
    unknown = sorted(str(k) for k in doc if k not in keys)
    if unknown:
        raise ScenarioError(where, f"unknown field(s) {', '.join(unknown)}")


def _number(value: object, where: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(where, f"must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < minimum:
        raise ScenarioError(where, f"must be a finite number ≥ {minimum:g}")
    return number


def _int(value: object, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(where, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ScenarioError(where, f"must be {low}..{high}")
    return value


def _probability(value: object, where: str) -> float:
    number = _number(value, where, 0.0)
    if number > 1:
        raise ScenarioError(where, "is a probability: 0..1")
    return number
