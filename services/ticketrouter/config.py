"""The one configuration object, read from the environment (TICKETROUTER_*)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

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
    grpc_address: str = "127.0.0.1:50051"
    metrics_address: str = "127.0.0.1:9464"
    rules_file: Path = DEFAULT_RULES
    fcr_window: timedelta = timedelta(days=7)
    default_region: str = "US"
    # The closed set of team names that label handoff metrics (others count as "other").
    teams: tuple[str, ...] = ("billing", "orders", "technical", "security", "care", "support")
    log_level: str = "INFO"
    log_format: str = "text"

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


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    d = Settings()
    get = env.get
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
        grpc_address=get("TICKETROUTER_GRPC_ADDRESS") or d.grpc_address,
        metrics_address=get("TICKETROUTER_METRICS_ADDRESS") or d.metrics_address,
        rules_file=Path(get("TICKETROUTER_RULES_FILE") or d.rules_file),
        fcr_window=timedelta(days=_int(env, "TICKETROUTER_FCR_WINDOW_DAYS", 7)),
        default_region=(get("TICKETROUTER_DEFAULT_REGION") or d.default_region).upper(),
        teams=tuple(t.strip() for t in get("TICKETROUTER_TEAMS", "").split(",") if t.strip())
        or d.teams,
        log_level=(get("TICKETROUTER_LOG_LEVEL") or d.log_level).upper(),
        log_format=get("TICKETROUTER_LOG_FORMAT") or d.log_format,
    )
