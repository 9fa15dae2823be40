"""The environment is the configuration: what a process hands its workers reads
back as the same settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ticketrouter.config import Settings, from_env, to_env

EVERY_FIELD_CHANGED = Settings(
    database_url="postgresql+psycopg2://router@db/routing",
    kafka_bootstrap="kafka-1:9092,kafka-2:9092",
    contacts_topic="in",
    decisions_topic="out",
    dlq_topic="in.dlq",
    topic_partitions=12,
    group_id="routers",
    batch_size=100,
    max_poll_interval_ms=6000,
    max_invalid_ratio=0.25,
    max_event_bytes=100_000,
    stall_seconds=15.0,
    grpc_address="0.0.0.0:7000",
    metrics_address="0.0.0.0:7001",
    rules_file=Path("/etc/ticketrouter/policy.yaml"),
    fcr_window=timedelta(days=3),
    fairness_window=timedelta(minutes=90),
    default_region="GB",
    teams=("billing", "care"),
    log_level="DEBUG",
    log_format="json",
    never_merge_kinds=("phone",),
    one_per_customer_kinds=("account", "loyalty"),
    context_items=9,
    aging_per_minute=0.5,
    offer_timeout_seconds=20.0,
    max_missed_offers=2,
    wrap_up_seconds=(("chat", 12.5), ("voice", 30.0)),
    platform_tokens=("desk-1", "desk-2"),
    admin_tokens=("ops",),
    grpc_tls_cert=Path("/tls/server.pem"),
    grpc_tls_key=Path("/tls/server.key"),
    grpc_tls_client_ca=Path("/tls/ca.pem"),
    db_lock_timeout_ms=2_000,
    db_statement_timeout_ms=5_000,
    auto_migrate=True,
)


@pytest.mark.parametrize("settings", [Settings(), EVERY_FIELD_CHANGED], ids=["defaults", "all"])
def test_settings_survive_the_trip_through_the_environment(settings: Settings) -> None:
    assert from_env(to_env(settings)) == settings


def test_every_field_is_handed_on() -> None:
    # A new setting that to_env forgets would silently fall back to its default in
    # every worker process: the all-changed settings must differ from the defaults
    # in every field for the round trip above to prove anything.
    defaults = Settings()
    same = [
        name
        for name in Settings.__dataclass_fields__
        if getattr(EVERY_FIELD_CHANGED, name) == getattr(defaults, name)
    ]
    assert same == []


@pytest.mark.parametrize("value", ["10", "2000000"])
def test_the_event_size_limit_leaves_room_for_the_dead_letter_copy(value: str) -> None:
    with pytest.raises(SystemExit, match="TICKETROUTER_MAX_EVENT_BYTES"):
        from_env({"TICKETROUTER_MAX_EVENT_BYTES": value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TICKETROUTER_DB_LOCK_TIMEOUT_MS", "30000"),
        ("TICKETROUTER_DB_LOCK_TIMEOUT_MS", "0"),
        ("TICKETROUTER_DB_STATEMENT_TIMEOUT_MS", "45000"),
    ],
)
def test_database_timeouts_stay_below_the_poll_interval(name: str, value: str) -> None:
    # A driver that waits longer than max.poll.interval.ms gets the worker dropped
    # from its group while it waits, instead of its own back-off taking over.
    with pytest.raises(SystemExit, match=f"{name} must be positive and below .*30000"):
        from_env({name: value, "TICKETROUTER_MAX_POLL_INTERVAL_MS": "30000"})


def test_database_timeouts_follow_a_short_poll_interval() -> None:
    # A worker started with a 4 s poll interval and no timeouts set must start (the
    # fault tests do this) and wait on a lock at most a third of the interval.
    settings = from_env(to_env(Settings(max_poll_interval_ms=4_000)))
    assert (settings.lock_timeout_ms, settings.statement_timeout_ms) == (1_333, 2_666)
    assert (Settings().lock_timeout_ms, Settings().statement_timeout_ms) == (10_000, 20_000)


def test_wrap_up_is_read_per_channel_and_a_bad_pair_is_named() -> None:
    env = {"TICKETROUTER_WRAP_UP_SECONDS": "Voice=30, chat=7.5"}
    assert from_env(env).wrap_up_seconds == (("chat", 7.5), ("voice", 30.0))
    for bad, says in (("fax=3", "unknown channel"), ("voice=soon", "channel=seconds")):
        with pytest.raises(SystemExit, match=says):
            from_env({"TICKETROUTER_WRAP_UP_SECONDS": bad})
