"""The one place where things are wired together. Nothing connects at import time."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from ticketrouter.adapters.agent_profiles import AgentProfiles
from ticketrouter.adapters.codec import decision_to_proto, encode_decision
from ticketrouter.adapters.database import Database, connect, is_transient
from ticketrouter.adapters.fairness_reader import read_agent_work
from ticketrouter.adapters.feed import AssignmentFeed
from ticketrouter.adapters.metrics import PrometheusMetrics
from ticketrouter.adapters.policy_store import SqlPolicyVersions
from ticketrouter.adapters.read_model import ReadModel
from ticketrouter.adapters.rules_file import parse_stored_policy_text
from ticketrouter.adapters.schema import prepare_schema
from ticketrouter.adapters.unit_of_work import OutboxPublisher, SqlUnitOfWork
from ticketrouter.config import Settings
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.commands import AdvanceQueue, MatureResolutions
from ticketrouter.domain.context import ContextLimits
from ticketrouter.domain.errors import InvalidField, parse_choice
from ticketrouter.domain.events import CaseRouted, Event
from ticketrouter.domain.fairness import fairness_figures
from ticketrouter.domain.identity import IdentityKind
from ticketrouter.domain.merging import IdentityPolicy
from ticketrouter.domain.policy import Policy
from ticketrouter.domain.policy_document import InvalidPolicy
from ticketrouter.service_layer.maturing import mature_resolutions
from ticketrouter.service_layer.messagebus import MessageBus
from ticketrouter.service_layer.policies import PolicyWatch, start_policy
from ticketrouter.service_layer.ports import Clock
from ticketrouter.service_layer.queue import advance_queue
from ticketrouter.service_layer.settings import RoutingSettings

log = logging.getLogger(__name__)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class App:
    settings: Settings
    database: Database
    routing: RoutingSettings
    metrics: PrometheusMetrics
    registry: CollectorRegistry
    clock: Clock
    feed: AssignmentFeed = field(default_factory=AssignmentFeed)
    profiles: AgentProfiles = field(default_factory=AgentProfiles)
    policy_watch: PolicyWatch | None = None
    # The relay's `send`, set where a producer exists: committed decisions go out at
    # once; without one they wait in the outbox for a relay's drain.
    publish_outbox: OutboxPublisher | None = None
    bus: MessageBus = field(init=False)

    def __post_init__(self) -> None:
        self.bus = MessageBus(
            self.uow, self.clock, lambda: self.routing, self.after_commit, is_transient
        )

    def uow(self) -> SqlUnitOfWork:
        """A read-write transaction whose decisions, with their customer's context,
        go to the outbox."""
        return SqlUnitOfWork(
            self.database.writer,
            encode_decision,
            self.profiles,
            self.routing.context,
            self.routing.aging_per_minute,
            publish=self.publish_outbox,
        )

    def read_uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.database.reader, profiles=self.profiles)

    @functools.cached_property
    def reads(self) -> ReadModel:
        """The read-only queries of the case screens, on the reader engine."""
        return ReadModel(self.database.reader)

    def after_commit(self, events: Sequence[Event]) -> None:
        now = self.clock.now()
        for event in events:
            self.metrics.record(event, now)
            # Desks of this process at once, without waiting for the topic's echo
            # (which the feed then recognises); a process without desks closed it.
            if (
                isinstance(event, CaseRouted)
                and event.decision.agent_id is not None
                and not self.feed.closed
            ):
                self.feed.publish(decision_to_proto(event.decision))

    def advance_queue(self) -> None:
        """Fire the routing steps that are due, re-route lapsed offers and free the
        slots whose wrap-up is over. Every process asks every second; most seconds
        nothing is due, so a reader looks first and the writer (on SQLite, the one
        write lock the worker needs too) is taken only then."""
        now = self.clock.now()
        with self.read_uow() as uow:
            due = (
                uow.repo.lapsed_offers(now, 1)
                or uow.repo.wrap_ups_over(now, 1)
                or uow.repo.cases_due_a_step(now, 1)
            )
        if due:
            self.bus.execute(advance_queue, AdvanceQueue())

    def mature_resolutions(self) -> None:
        """Count the resolutions whose FCR window has closed (see service_layer.maturing).
        Every process asks every second; a reader looks first, so the writer is taken
        only when one is due."""
        now = self.clock.now()
        with self.read_uow() as uow:
            oldest = uow.repo.oldest_unmatured_resolution()
        if oldest is not None and oldest <= now - self.routing.fcr_window:
            self.bus.execute(mature_resolutions, MatureResolutions())

    def refresh_gauges(self) -> None:
        """Gauges come from the database, so every process (and a restart) agrees."""
        now = self.clock.now()
        with self.read_uow() as uow:
            self.metrics.set_gauges(uow.repo.queue_stats(now), uow.repo.staffing())
            work = read_agent_work(
                uow.repo.session.connection().execute, now - self.settings.fairness_window
            )
        self.metrics.set_fairness(fairness_figures(work, now, self.metrics.team_label))

    def reload_policy(self, applied: Policy | None = None) -> bool:
        """Route with the policy version now in force, if another one was applied (by
        any process) since the last call; batches and calls in flight finish with the
        policy they started with. `applied`: the version this process just applied,
        installed without being parsed again while it is still the one in force."""
        return self.policy_watch is not None and self.policy_watch.poll(
            self._install_policy, applied
        )

    def _install_policy(self, policy: Policy) -> None:
        # Rule names label metrics; keep the old ones too, their cases may still wait.
        self.metrics.rules = self.metrics.rules | set(policy.rule_names)
        self.routing = replace(self.routing, policy=policy)

    def close(self) -> None:
        self.database.dispose()


def bootstrap(
    settings: Settings,
    registry: CollectorRegistry | None = None,
    clock: Clock | None = None,
) -> App:
    database = connect(
        settings.database_url, settings.lock_timeout_ms, settings.statement_timeout_ms
    )
    prepare_schema(database.writer, settings.migrates_automatically)
    rules = _start_policy(database, settings, (clock or SystemClock()).now())
    registry = registry or CollectorRegistry()
    app = App(
        settings=settings,
        database=database,
        routing=RoutingSettings(
            policy=rules,
            fcr_window=settings.fcr_window,
            aging_per_minute=settings.aging_per_minute,
            offer_timeout=timedelta(seconds=settings.offer_timeout_seconds),
            max_missed_offers=max(1, settings.max_missed_offers),
            wrap_up={
                Channel(channel): timedelta(seconds=seconds)
                for channel, seconds in settings.wrap_up_seconds
            },
            identities=identity_policy(settings),
            context=context_limits(settings.context_items),
        ),
        metrics=PrometheusMetrics(registry, settings.teams, rules.rule_names),
        registry=registry,
        clock=clock or SystemClock(),
        policy_watch=PolicyWatch(
            SqlPolicyVersions(database), parse_stored_policy_text, rules.version
        ),
    )
    app.refresh_gauges()
    log.info(
        "ticketrouter ready",
        extra={"database": _redact(settings.database_url), "rules_version": rules.version},
    )
    return app


def identity_policy(settings: Settings) -> IdentityPolicy:
    def kinds(names: tuple[str, ...], variable: str) -> frozenset[IdentityKind]:
        try:
            return frozenset(
                parse_choice(IdentityKind, n, variable, "identity kind") for n in names
            )
        except InvalidField as err:
            raise SystemExit(str(err)) from None

    return IdentityPolicy(
        never_merge=kinds(settings.never_merge_kinds, "TICKETROUTER_NEVER_MERGE_KINDS"),
        one_per_customer=kinds(
            settings.one_per_customer_kinds, "TICKETROUTER_ONE_PER_CUSTOMER_KINDS"
        ),
    )


def context_limits(items: int) -> ContextLimits:
    if not 1 <= items <= 100:
        raise SystemExit(f"TICKETROUTER_CONTEXT_ITEMS must be 1..100, got {items}")
    return ContextLimits(contacts=items, cases=items, notes=items, csat=items, offers=items)


def _redact(url: str) -> str:
    """Never log database passwords."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _start_policy(database: Database, settings: Settings, now: datetime) -> Policy:
    """The version in force in the database; the rules file seeds a fresh database."""
    origin = str(settings.rules_file)
    try:
        source: str | None = settings.rules_file.read_text(encoding="utf-8")
    except OSError as err:
        # Only a fresh database needs the file: later the database holds the policy.
        log.warning("cannot read the rules file", extra={"rules_file": origin, "error": str(err)})
        source = None
    try:
        return start_policy(
            SqlPolicyVersions(database), parse_stored_policy_text, source, origin, now
        )
    except InvalidField:
        raise SystemExit(
            f"TICKETROUTER_RULES_FILE: cannot read {origin}, and no routing policy is applied"
        ) from None
    except InvalidPolicy as err:
        problems = "\n".join(f"  {problem}" for problem in err.problems)
        raise SystemExit(f"the routing policy is not valid:\n{problems}") from None
