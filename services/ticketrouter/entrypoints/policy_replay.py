"""`ticketrouter rules replay`: past contacts through the policy in force and a draft,
side by side, before the draft goes live. Nothing is written anywhere."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from kafka.errors import KafkaError
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from ticketrouter.adapters.codec import InvalidEvent, decode
from ticketrouter.adapters.database import Database, connect
from ticketrouter.adapters.event_history import (
    EventHistory,
    FileHistory,
    NoSuchTopic,
    RawEvent,
    TopicHistory,
)
from ticketrouter.adapters.policy_store import SqlPolicyVersions
from ticketrouter.adapters.rules_file import load_policy, parse_stored_policy_text
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.config import Settings
from ticketrouter.domain.agents import Agent
from ticketrouter.domain.commands import ReceiveContact
from ticketrouter.domain.context import ContextLimits
from ticketrouter.domain.plan import ContactFacts
from ticketrouter.domain.policy import Policy
from ticketrouter.domain.policy_document import InvalidPolicy
from ticketrouter.domain.policy_replay import PolicyComparison
from ticketrouter.service_layer.policies import contact_facts

TOP = 10  # lines per section of the report


class ReplayFailed(Exception):
    """Bad input (a missing file, an unknown topic): exit status 2, with the reason."""


@dataclass
class Tally:
    events: int = 0
    invalid: int = 0
    other_types: int = 0


def run_replay(
    settings: Settings,
    draft_path: Path,
    source: str,
    bootstrap: str,
    limit: int,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """0 with the report on `out`; 1 for an invalid draft; 2 for bad input."""
    try:
        draft = load_policy(draft_path)
    except OSError as error:
        print(f"{draft_path}: {error.strerror or error}", file=err)
        return 2
    except InvalidPolicy as error:
        for problem in error.problems:
            print(f"{draft_path}: {problem}", file=err)
        return 1
    database = _existing_database(settings.database_url, err)
    try:
        current, current_label = _current_policy(database, settings)
        roster = _roster(database)
        history, source_label = _history(source, bootstrap)
        comparison = PolicyComparison(current, draft.with_version(0), roster)
        tally = _replay(history, comparison, database, settings, limit, Progress(err))
    except ReplayFailed as error:
        print(f"replay: {error}", file=err)
        return 2
    finally:
        if database is not None:
            database.dispose()
    labels = (current_label, str(draft_path), source_label)
    print(render(comparison, tally, *labels), file=out)
    return 0


def _existing_database(url: str, err: TextIO) -> Database | None:
    """The configured database when it already exists (a replay creates nothing)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path != ":memory:" and not Path(path).exists():
            return None
    database = connect(url)
    try:
        with database.reader.connect():
            pass
    except OperationalError as error:
        print(f"replay: database unreachable, using the rules file: {error}"[:300], file=err)
        database.dispose()
        return None
    return database


def _has_table(database: Database, name: str) -> bool:
    return bool(inspect(database.reader).has_table(name))


def _current_policy(database: Database | None, settings: Settings) -> tuple[Policy, str]:
    if database is not None and _has_table(database, "policy_versions"):
        record = SqlPolicyVersions(database).latest()
        if record is not None:
            policy = parse_stored_policy_text(record.source).with_version(record.version)
            return policy, f"version {record.version} in force (database)"
    try:
        return load_policy(settings.rules_file), f"{settings.rules_file} (none in the database)"
    except (OSError, InvalidPolicy) as error:
        raise ReplayFailed(f"no policy in force to compare with: {error}") from None


def _roster(database: Database | None) -> list[Agent] | None:
    if database is None or not _has_table(database, "agents"):
        return None
    with SqlUnitOfWork(database.reader) as uow:
        return uow.repo.list_agents()


def _history(source: str, bootstrap: str) -> tuple[EventHistory, str]:
    path = Path(source)
    if path.is_file():
        return FileHistory(path), str(path)
    if not bootstrap:
        raise ReplayFailed(
            f"{source!r} is not a file, and no Kafka bootstrap servers are configured "
            "to read a topic of that name (--bootstrap or TICKETROUTER_KAFKA_BOOTSTRAP)"
        )
    try:
        return TopicHistory(bootstrap, source), f"topic {source} at {bootstrap}"
    except NoSuchTopic:
        raise ReplayFailed(f"no topic {source!r} at {bootstrap}") from None
    except KafkaError as error:
        raise ReplayFailed(f"cannot read {source!r} at {bootstrap}: {error}") from None


def _replay(
    history: EventHistory,
    comparison: PolicyComparison,
    database: Database | None,
    settings: Settings,
    limit: int,
    progress: Progress,
) -> Tally:
    tally = Tally()
    total = history.total if not limit else min(limit, history.total or limit)
    progress.start(total)
    with_customer = database is not None and (
        comparison.current.needs_customer or comparison.draft.needs_customer
    )
    now = datetime.now(UTC)
    for raw in _limited(history, limit):
        tally.events += 1
        if not limit and history.total:
            progress.total = history.total  # a topic may learn its true end as it goes
        progress.update(tally.events)
        try:
            command = decode(raw.payload, raw.content_type, settings.default_region)
        except InvalidEvent:
            tally.invalid += 1
            continue
        if not isinstance(command, ReceiveContact):
            tally.other_types += 1
            continue
        if with_customer and database is not None:
            with SqlUnitOfWork(database.reader) as uow:
                facts = contact_facts(uow, command, True, ContextLimits(), now)
        else:
            facts = ContactFacts(
                command.channel.value,
                command.topic,
                command.language,
                command.subject,
                command.attributes,
            )
        comparison.add(facts)
    progress.finish(tally.events)
    return tally


def _limited(history: Iterable[RawEvent], limit: int) -> Iterable[RawEvent]:
    for count, item in enumerate(history, 1):
        yield item
        if limit and count >= limit:
            return


class Progress:
    """A bar on a terminal, a line every few seconds otherwise (a log, a CI job)."""

    def __init__(self, stream: TextIO, every: float = 2.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every = 0.1 if self.tty else every
        self.total: int | None = None
        self.last = 0.0

    def start(self, total: int | None) -> None:
        self.total = total
        self.last = time.monotonic()

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._show(done)

    def finish(self, done: int) -> None:
        self._show(done)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _show(self, done: int) -> None:
        total = self.total
        if self.tty and total:
            share = min(1.0, done / total)
            bar = "#" * int(share * 30)
            self.stream.write(f"\rreplay [{bar:<30}] {share:4.0%} {done:,}/{total:,} events")
        elif self.tty:
            self.stream.write(f"\rreplay: {done:,} events")
        else:
            of = f"/{total:,}" if total else ""
            self.stream.write(f"replay: {done:,}{of} events\n")
        self.stream.flush()


def render(
    comparison: PolicyComparison, tally: Tally, current: str, draft: str, source: str
) -> str:
    contacts = comparison.contacts
    lines = [
        f"Replayed {tally.events:,} events from {source}: {contacts:,} contacts, "
        f"{tally.invalid:,} invalid and {tally.other_types:,} of other types skipped.",
        f"current: {current}",
        f"draft:   {draft}",
        "",
        f"{'rule':<28}{'current':>10}{'draft':>10}{'change':>10}",
    ]
    before, after = comparison.before.rules, comparison.after.rules
    names = list(dict.fromkeys([*comparison.current.rule_names, *comparison.draft.rule_names]))
    for name in names:
        old, new = before.get(name, 0), after.get(name, 0)
        change = f"{new - old:+,}" if new != old else ""
        lines.append(f"{name:<28}{old:>10,}{new:>10,}{change:>10}")
    share = f" ({comparison.changed_rule / contacts:.1%})" if contacts else ""
    lines += ["", f"Contacts that change rule: {comparison.changed_rule:,}{share}"]
    lines += _section({f"{a} → {b}": n for (a, b), n in comparison.moves.items()}, "")
    lines += ["", f"Requirement changes: {sum(comparison.requirement_changes.values()):,} contacts"]
    changes = comparison.requirement_changes.items()
    lines += _section({f"{a} → {b}": n for (a, b), n in changes}, " contacts")
    lines += ["", f"Priority changes: {sum(comparison.priority_changes.values()):,} contacts"]
    priorities = comparison.priority_changes.items()
    lines += _section({f"{a} → {b}": n for (a, b), n in priorities}, " contacts")
    lines.append("")
    if comparison.roster is None:
        lines.append("Predicted unroutable: no agent roster in the database to judge by.")
    else:
        lines.append(
            f"Predicted unroutable (no agent among the {len(comparison.roster):,} in the "
            "roster could ever take them, after every routing step):"
        )
        for label, side in (("current", comparison.before), ("draft", comparison.after)):
            by_rule = ", ".join(f"{r} {n:,}" for r, n in side.unroutable.most_common(TOP))
            total = sum(side.unroutable.values())
            lines.append(
                f"  {label + ':':<9}{total:,} contacts" + (f" ({by_rule})" if total else "")
            )
    return "\n".join(lines)


def _section(counts: dict[str, int], unit: str) -> list[str]:
    ordered = Counter(counts).most_common()
    lines = [f"  {text:<52}{n:>8,}{unit}" for text, n in ordered[:TOP]]
    if len(ordered) > TOP:
        rest = sum(n for _text, n in ordered[TOP:])
        lines.append(f"  … and {len(ordered) - TOP} more kinds ({rest:,} contacts)")
    return lines
