"""Routing policy versions: apply, roll back, load the one in force, notice a newer one.

History is append-only: applying a policy appends a version and the newest version is
the one in force, so every router process agrees by reading one number. A rollback
appends a copy of an older version's source, noted "rollback to vN".
"""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from ticketrouter.domain.commands import ReceiveContact
from ticketrouter.domain.context import ContextLimits
from ticketrouter.domain.errors import InvalidField, NotFound
from ticketrouter.domain.plan import ContactFacts
from ticketrouter.domain.policy import Policy
from ticketrouter.domain.policy_document import InvalidPolicy, check_policy_size
from ticketrouter.service_layer.ports import UnitOfWork

log = logging.getLogger(__name__)

MAX_AUTHOR_CHARS = 200

# Text -> policy; raises InvalidPolicy. Parsing YAML is the adapters' business.
PolicyParser = Callable[[str], Policy]


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    version: int
    source: str
    author: str
    created_at: datetime
    diff: str = ""  # unified diff against the previous version
    note: str = ""  # e.g. "rollback to v3"


class PolicyVersions(abc.ABC):
    """The version store (port)."""

    @abc.abstractmethod
    def latest_number(self) -> int:
        """The version in force; 0 when none was ever applied. Cheap: polled every second."""

    @abc.abstractmethod
    def get(self, version: int) -> PolicyVersion | None: ...

    @abc.abstractmethod
    def history(self, before: int | None = None, limit: int | None = None) -> list[PolicyVersion]:
        """Newest first; only versions older than `before`, and `limit` of them,
        when given."""

    @abc.abstractmethod
    def append(
        self, source: str, author: str, note: str, now: datetime, only_if_empty: bool = False
    ) -> PolicyVersion | None:
        """Store the next version, with its diff against the previous one. With
        `only_if_empty`, store it only when there is no version yet (else None)."""

    def latest(self) -> PolicyVersion | None:
        number = self.latest_number()
        return self.get(number) if number else None


@dataclass(frozen=True, slots=True)
class Applied:
    record: PolicyVersion
    policy: Policy
    changed: bool  # False: the source was the one in force already; nothing appended


def apply_policy(
    versions: PolicyVersions,
    parse: PolicyParser,
    source: str,
    author: str,
    now: datetime,
    note: str = "",
) -> Applied:
    """Validate, then append as the new version in force. An invalid policy raises
    InvalidPolicy and changes nothing; so does one over MAX_POLICY_BYTES, before it is
    parsed (a rollback to a version stored before that limit included). Re-applying
    the source in force (a retried call) appends nothing."""
    author = _author(author, "who applies this policy")
    check_policy_size(source)
    policy = parse(source)
    current = versions.latest()
    if current is not None and current.source == source:
        return Applied(current, policy.with_version(current.version), changed=False)
    record = versions.append(source, author, note, now)
    assert record is not None
    log.info(
        "routing policy applied",
        extra={"version": record.version, "author": author, "note": note or "-"},
    )
    return Applied(record, policy.with_version(record.version), changed=True)


def _author(author: str, who: str) -> str:
    author = author.strip()
    if not author:
        raise InvalidField("author", f"required: {who}")
    if len(author) > MAX_AUTHOR_CHARS:
        raise InvalidField("author", f"longer than {MAX_AUTHOR_CHARS} characters")
    return author


def rollback_policy(
    versions: PolicyVersions, parse: PolicyParser, version: int, author: str, now: datetime
) -> Applied:
    """Put an older version's source back in force, as a new version."""
    author = _author(author, "who rolls back")
    if version <= 0:
        raise InvalidField("version", "must be a positive version number")
    target = versions.get(version)
    if target is None:
        raise NotFound("policy version", str(version))
    return apply_policy(versions, parse, target.source, author, now, f"rollback to v{version}")


def start_policy(
    versions: PolicyVersions,
    parse: PolicyParser,
    file_source: str | None,
    origin: str,
    now: datetime,
) -> Policy:
    """The policy a process starts with: the version in force in the database; on a
    fresh database the rules file becomes version 1. A rules file that differs from
    the version in force (or is unreadable: None) is reported, never applied silently:
    once a policy has been applied, the database is the source of truth."""
    record = versions.latest()
    if record is None:
        if file_source is None:
            raise InvalidField("rules file", f"{origin} is unreadable and no policy is applied")
        check_policy_size(file_source)  # it becomes a version: the limit of any other
        parse(file_source)  # an invalid file stops the start, with its problems
        versions.append(file_source, "bootstrap", f"from {origin}", now, only_if_empty=True)
        record = versions.latest()  # ours, or a replica's that got there first
        assert record is not None
    elif file_source is not None and record.source != file_source:
        log.warning(
            "the rules file differs from the routing policy in force; the database wins "
            "(apply the file with RoutingConfigService.ApplyPolicy to use it)",
            extra={"rules_file": origin, "version": record.version, "author": record.author},
        )
    try:
        return parse(record.source).with_version(record.version)
    except InvalidPolicy as err:
        raise InvalidPolicy(
            [
                replace(p, reason=f"version {record.version} in force: {p.reason}")
                for p in err.problems
            ]
        ) from None


class PolicyWatch:
    """Notices a newer version in force (applied by any process), parses it once and
    installs it. Polls are serialised: two threads polling around an apply must not
    install an older version after a newer one."""

    def __init__(self, versions: PolicyVersions, parse: PolicyParser, current: int) -> None:
        self.versions = versions
        self.parse = parse
        self.current = current
        self._lock = threading.Lock()

    def poll(self, install: Callable[[Policy], None], parsed: Policy | None = None) -> bool:
        """Install the policy now in force if it changed since the last poll. `parsed`:
        a version this process has just applied (and so validated), installed as it is
        when it is still the one in force, rather than parsed a second time."""
        with self._lock:
            latest = self.versions.latest_number()
            if latest == self.current:
                return False
            if parsed is not None and parsed.version == latest:
                self.current = latest
                install(parsed)
                log.info("routing policy version in force", extra={"version": latest})
                return True
            record = self.versions.get(latest)
            if record is None:
                return False
            self.current = latest  # judged once: a bad version is not retried every second
            try:
                policy = self.parse(record.source).with_version(latest)
            except InvalidPolicy as err:
                # Only a router older than the one that applied it can disagree: keep routing.
                log.error(
                    "routing policy in force does not validate here; keeping the previous one",
                    extra={"version": latest, "problems": str(err)[:500]},
                )
                return False
            install(policy)
            log.info("routing policy version in force", extra={"version": latest})
            return True


def contact_facts(
    uow: UnitOfWork,
    cmd: ReceiveContact,
    needs_customer: bool,
    limits: ContextLimits,
    now: datetime,
) -> ContactFacts:
    """What a policy sees of a contact, read without changing anything (dry runs and
    replays): the customer's facts when the policy reads them and the customer is known."""
    owners = set(uow.repo.owners_of(cmd.identities).values()) if needs_customer else set()
    # Unknown, or an event that would merge customers: no one customer's history.
    customer_id = owners.pop() if len(owners) == 1 else None
    return facts_for(uow, cmd, customer_id, needs_customer, limits, now)


def facts_for(
    uow: UnitOfWork,
    cmd: ReceiveContact,
    customer_id: str | None,
    needs_customer: bool,
    limits: ContextLimits,
    now: datetime,
) -> ContactFacts:
    """The contact's facts, with the history of `customer_id` (None: a new customer)
    read from their context packet when the policy looks at the customer at all."""
    facts = ContactFacts(
        channel=cmd.channel.value,
        topic=cmd.topic,
        language=cmd.language,
        subject=cmd.subject,
        attributes=cmd.attributes,
        is_new_customer=customer_id is None,
    )
    if customer_id is None or not needs_customer:
        return facts
    known = uow.repo.context_packets([customer_id], limits, now).get(customer_id)
    if known is None:
        return facts
    return replace(
        facts,
        customer_tier=known.tier,
        customer_language=known.language,
        open_cases=len(known.open_cases),
        previous_cases=len(known.previous_cases),
        last_csat=known.recent_csat[0][1] if known.recent_csat else None,
    )
