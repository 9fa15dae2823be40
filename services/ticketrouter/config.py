"""The one configuration object, read from the environment (TICKETROUTER_*)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from ticketrouter.domain.channels import parse_channel
from ticketrouter.domain.errors import InvalidField

_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RULES = _ROOT / "deploy" / "config" / "routing-rules.yaml"


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///.ticketrouter/ticketrouter.db"
    # Empty: start the embedded Tansu broker on a free port.
    kafka_bootstrap: str = ""
    contacts_topic: str = "contact-events"
    decisions_topic: str = "routing-decisions"
    dlq_topic: str = "contact-events.dlq"
    topic_partitions: int = 4
    group_id: str = "ticketrouter"
    batch_size: int = 500
    max_poll_interval_ms: int = 30_000
    # A lock wait or a statement that runs longer fails as transient, so the worker's
    # own back-off takes over well before Kafka would drop it from the group (both
    # must stay below max_poll_interval_ms). Statements time out on PostgreSQL only.
    # None: 10 s and 20 s, or a third and two thirds of a shorter poll interval.
    db_lock_timeout_ms: int | None = None
    db_statement_timeout_ms: int | None = None
    # Bring a database behind this version's schema up to it at start. None: yes
    # for the embedded SQLite file, no for PostgreSQL, where an operator runs
    # `ticketrouter db upgrade` once before rolling out the new version.
    auto_migrate: bool | None = None
    # Above this share of invalid events among the last 1,000 the worker halts rather
    # than dead-letter a whole broken deploy (1.0: never).
    max_invalid_ratio: float = 0.5
    # Events larger than this go to the DLQ as too_large before they are decoded; well
    # under the producer's 1 MiB request limit, so their dead-letter copy always fits.
    max_event_bytes: int = 256 * 1024
    # A batch in hand for longer than this makes the worker stalled: health turns
    # NOT_SERVING until it commits again.
    stall_seconds: float = 60.0
    grpc_address: str = "127.0.0.1:50051"
    metrics_address: str = "127.0.0.1:9464"
    rules_file: Path = DEFAULT_RULES
    fcr_window: timedelta = timedelta(days=7)
    # The window the fairness gauges count each agent's assignments over.
    fairness_window: timedelta = timedelta(hours=1)
    default_region: str = "US"
    # The closed set of team names that label handoff metrics (others count as "other").
    teams: tuple[str, ...] = ("billing", "orders", "technical", "security", "care", "support")
    log_level: str = "INFO"
    log_format: str = "text"
    # Identity kinds several people may share (a family phone): never merge customers.
    never_merge_kinds: tuple[str, ...] = ()
    # Strong identifiers: a customer holds at most one of each; two never auto-merge.
    one_per_customer_kinds: tuple[str, ...] = ("account",)
    # How many contacts, cases, notes and offers a context packet carries.
    context_items: int = 5
    # Queue discipline: waiting raises a case this many priority levels a minute.
    aging_per_minute: float = 0.1
    # Offers: seconds an agent has to accept (0: assignments are direct).
    offer_timeout_seconds: float = 0.0
    max_missed_offers: int = 3
    # Wrap-up: seconds an owner keeps the slot after a case's last contact on a
    # channel ended, as (channel, seconds); a channel not named frees at once.
    wrap_up_seconds: tuple[tuple[str, float], ...] = ()
    # gRPC bearer tokens per role; with none configured authentication is off (the
    # embedded demo). Kept out of repr so that logging the settings never leaks them.
    platform_tokens: tuple[str, ...] = field(default=(), repr=False)
    admin_tokens: tuple[str, ...] = field(default=(), repr=False)
    # PEM files. A certificate and key turn TLS on (no plaintext port at all);
    # a client CA also requires every client to present a certificate it signed.
    grpc_tls_cert: Path | None = None
    grpc_tls_key: Path | None = None
    grpc_tls_client_ca: Path | None = None

    @property
    def lock_timeout_ms(self) -> int:
        if self.db_lock_timeout_ms is not None:
            return self.db_lock_timeout_ms
        return max(1, min(10_000, self.max_poll_interval_ms // 3))

    @property
    def statement_timeout_ms(self) -> int:
        if self.db_statement_timeout_ms is not None:
            return self.db_statement_timeout_ms
        return max(1, min(20_000, self.max_poll_interval_ms * 2 // 3))

    @property
    def migrates_automatically(self) -> bool:
        if self.auto_migrate is not None:
            return self.auto_migrate
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _csv(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    return Path(raw) if raw else None


def _tls_files(env: Mapping[str, str]) -> tuple[Path | None, Path | None, Path | None]:
    cert = _path(env, "TICKETROUTER_GRPC_TLS_CERT")
    key = _path(env, "TICKETROUTER_GRPC_TLS_KEY")
    client_ca = _path(env, "TICKETROUTER_GRPC_TLS_CLIENT_CA")
    if (cert is None) != (key is None):
        raise SystemExit("TICKETROUTER_GRPC_TLS_CERT and TICKETROUTER_GRPC_TLS_KEY go together")
    if client_ca is not None and cert is None:
        raise SystemExit("TICKETROUTER_GRPC_TLS_CLIENT_CA needs TICKETROUTER_GRPC_TLS_CERT/_KEY")
    return cert, key, client_ca


# The largest input event: its dead-letter copy, with headers, must stay under the
# producer's default 1 MiB request limit (and a stock broker's message.max.bytes).
MAX_EVENT_BYTES_LIMIT = 768 * 1024


def _event_bytes(env: Mapping[str, str]) -> int:
    name = "TICKETROUTER_MAX_EVENT_BYTES"
    value = _int(env, name, Settings.max_event_bytes)
    if not 1024 <= value <= MAX_EVENT_BYTES_LIMIT:
        raise SystemExit(f"{name} must be within 1024..{MAX_EVENT_BYTES_LIMIT}, got {value}")
    return value


def _switch(env: Mapping[str, str], name: str) -> bool | None:
    """1/0 (or true/false, yes/no); unset or empty: None, the default by context."""
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return None
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"{name} must be 1 or 0, got {raw!r}")


def _optional(value: int | None) -> str:
    return "" if value is None else str(value)


def _below_poll(env: Mapping[str, str], name: str) -> int | None:
    """A database timeout: positive and below the poll interval, or the worker is
    dropped from its group while the database still waits. Unset: None."""
    if env.get(name, "") == "":
        return None
    value = _int(env, name, 0)
    poll = _int(env, "TICKETROUTER_MAX_POLL_INTERVAL_MS", Settings.max_poll_interval_ms)
    if not 0 < value < poll:
        raise SystemExit(
            f"{name} must be positive and below TICKETROUTER_MAX_POLL_INTERVAL_MS "
            f"({poll}), got {value}"
        )
    return value


def _ratio(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if value > 1.0:
        raise SystemExit(f"{name} must be within 0..1, got {value:g}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise SystemExit(f"{name} must not be negative, got {raw!r}")
    return value


def _wrap_up(env: Mapping[str, str]) -> tuple[tuple[str, float], ...]:
    """TICKETROUTER_WRAP_UP_SECONDS: `channel=seconds` pairs, e.g. `voice=30,chat=10`."""
    name = "TICKETROUTER_WRAP_UP_SECONDS"
    pairs: dict[str, float] = {}
    for item in _csv(env, name):
        channel, _, raw = item.partition("=")
        try:
            key = parse_channel(channel).value
            seconds = float(raw)
        except InvalidField:
            raise SystemExit(f"{name}: unknown channel in {item!r}") from None
        except ValueError:
            raise SystemExit(f"{name}: {item!r} is not channel=seconds") from None
        if not 0 <= seconds < 86_400:
            raise SystemExit(f"{name}: {item!r} must be 0 to 86399 seconds")
        pairs[key] = seconds
    return tuple(sorted(pairs.items()))


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Lower-cased names; unset keeps the default, set but empty means none."""
    return default if name not in env else tuple(item.lower() for item in _csv(env, name))


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    d = Settings()
    get = env.get
    tls_cert, tls_key, tls_client_ca = _tls_files(env)
    return Settings(
        database_url=get("TICKETROUTER_DATABASE_URL") or d.database_url,
        kafka_bootstrap=get("TICKETROUTER_KAFKA_BOOTSTRAP", d.kafka_bootstrap),
        contacts_topic=get("TICKETROUTER_CONTACTS_TOPIC") or d.contacts_topic,
        decisions_topic=get("TICKETROUTER_DECISIONS_TOPIC") or d.decisions_topic,
        dlq_topic=get("TICKETROUTER_DLQ_TOPIC") or d.dlq_topic,
        topic_partitions=_int(env, "TICKETROUTER_TOPIC_PARTITIONS", d.topic_partitions),
        group_id=get("TICKETROUTER_GROUP_ID") or d.group_id,
        batch_size=_int(env, "TICKETROUTER_BATCH_SIZE", d.batch_size),
        max_poll_interval_ms=_int(env, "TICKETROUTER_MAX_POLL_INTERVAL_MS", d.max_poll_interval_ms),
        db_lock_timeout_ms=_below_poll(env, "TICKETROUTER_DB_LOCK_TIMEOUT_MS"),
        db_statement_timeout_ms=_below_poll(env, "TICKETROUTER_DB_STATEMENT_TIMEOUT_MS"),
        auto_migrate=_switch(env, "TICKETROUTER_AUTO_MIGRATE"),
        max_invalid_ratio=_ratio(env, "TICKETROUTER_MAX_INVALID_RATIO", d.max_invalid_ratio),
        max_event_bytes=_event_bytes(env),
        stall_seconds=_float(env, "TICKETROUTER_STALL_SECONDS", d.stall_seconds),
        grpc_address=get("TICKETROUTER_GRPC_ADDRESS") or d.grpc_address,
        metrics_address=get("TICKETROUTER_METRICS_ADDRESS") or d.metrics_address,
        rules_file=Path(get("TICKETROUTER_RULES_FILE") or d.rules_file),
        fcr_window=timedelta(days=_int(env, "TICKETROUTER_FCR_WINDOW_DAYS", 7)),
        fairness_window=timedelta(minutes=_int(env, "TICKETROUTER_FAIRNESS_WINDOW_MINUTES", 60)),
        default_region=(get("TICKETROUTER_DEFAULT_REGION") or d.default_region).upper(),
        teams=_csv(env, "TICKETROUTER_TEAMS") or d.teams,
        log_level=(get("TICKETROUTER_LOG_LEVEL") or d.log_level).upper(),
        log_format=get("TICKETROUTER_LOG_FORMAT") or d.log_format,
        never_merge_kinds=_list(env, "TICKETROUTER_NEVER_MERGE_KINDS", d.never_merge_kinds),
        one_per_customer_kinds=_list(
            env, "TICKETROUTER_ONE_PER_CUSTOMER_KINDS", d.one_per_customer_kinds
        ),
        context_items=_int(env, "TICKETROUTER_CONTEXT_ITEMS", d.context_items),
        aging_per_minute=_float(env, "TICKETROUTER_AGING_PER_MINUTE", d.aging_per_minute),
        offer_timeout_seconds=_float(
            env, "TICKETROUTER_OFFER_TIMEOUT_SECONDS", d.offer_timeout_seconds
        ),
        max_missed_offers=_int(env, "TICKETROUTER_MAX_MISSED_OFFERS", d.max_missed_offers),
        wrap_up_seconds=_wrap_up(env),
        platform_tokens=_csv(env, "TICKETROUTER_PLATFORM_TOKENS"),
        admin_tokens=_csv(env, "TICKETROUTER_ADMIN_TOKENS"),
        grpc_tls_cert=tls_cert,
        grpc_tls_key=tls_key,
        grpc_tls_client_ca=tls_client_ca,
    )


def to_env(settings: Settings) -> dict[str, str]:
    """The environment that `from_env` reads back as these settings: how a process
    hands its configuration to the workers it starts."""
    s = settings
    return {
        "TICKETROUTER_DATABASE_URL": s.database_url,
        "TICKETROUTER_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
        "TICKETROUTER_CONTACTS_TOPIC": s.contacts_topic,
        "TICKETROUTER_DECISIONS_TOPIC": s.decisions_topic,
        "TICKETROUTER_DLQ_TOPIC": s.dlq_topic,
        "TICKETROUTER_TOPIC_PARTITIONS": str(s.topic_partitions),
        "TICKETROUTER_GROUP_ID": s.group_id,
        "TICKETROUTER_BATCH_SIZE": str(s.batch_size),
        "TICKETROUTER_MAX_POLL_INTERVAL_MS": str(s.max_poll_interval_ms),
        "TICKETROUTER_DB_LOCK_TIMEOUT_MS": _optional(s.db_lock_timeout_ms),
        "TICKETROUTER_DB_STATEMENT_TIMEOUT_MS": _optional(s.db_statement_timeout_ms),
        "TICKETROUTER_AUTO_MIGRATE": "" if s.auto_migrate is None else str(int(s.auto_migrate)),
        "TICKETROUTER_MAX_INVALID_RATIO": repr(s.max_invalid_ratio),
        "TICKETROUTER_MAX_EVENT_BYTES": str(s.max_event_bytes),
        "TICKETROUTER_STALL_SECONDS": repr(s.stall_seconds),
        "TICKETROUTER_GRPC_ADDRESS": s.grpc_address,
        "TICKETROUTER_METRICS_ADDRESS": s.metrics_address,
        "TICKETROUTER_RULES_FILE": str(s.rules_file),
        "TICKETROUTER_FCR_WINDOW_DAYS": str(s.fcr_window.days),
        "TICKETROUTER_FAIRNESS_WINDOW_MINUTES": str(int(s.fairness_window.total_seconds() // 60)),
        "TICKETROUTER_DEFAULT_REGION": s.default_region,
        "TICKETROUTER_TEAMS": ",".join(s.teams),
        "TICKETROUTER_LOG_LEVEL": s.log_level,
        "TICKETROUTER_LOG_FORMAT": s.log_format,
        "TICKETROUTER_NEVER_MERGE_KINDS": ",".join(s.never_merge_kinds),
        "TICKETROUTER_ONE_PER_CUSTOMER_KINDS": ",".join(s.one_per_customer_kinds),
        "TICKETROUTER_CONTEXT_ITEMS": str(s.context_items),
        "TICKETROUTER_AGING_PER_MINUTE": repr(s.aging_per_minute),
        "TICKETROUTER_OFFER_TIMEOUT_SECONDS": repr(s.offer_timeout_seconds),
        "TICKETROUTER_MAX_MISSED_OFFERS": str(s.max_missed_offers),
        "TICKETROUTER_WRAP_UP_SECONDS": ",".join(f"{c}={v!r}" for c, v in s.wrap_up_seconds),
        "TICKETROUTER_PLATFORM_TOKENS": ",".join(s.platform_tokens),
        "TICKETROUTER_ADMIN_TOKENS": ",".join(s.admin_tokens),
        "TICKETROUTER_GRPC_TLS_CERT": str(s.grpc_tls_cert or ""),
        "TICKETROUTER_GRPC_TLS_KEY": str(s.grpc_tls_key or ""),
        "TICKETROUTER_GRPC_TLS_CLIENT_CA": str(s.grpc_tls_client_ca or ""),
    }
