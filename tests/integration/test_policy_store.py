"""Policy versions in SQLite and PostgreSQL: append-only history with authors and
diffs, the newest in force, rollbacks as new versions, and the start-up rules."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tests.builders import RULES_FILE
from ticketrouter.adapters.database import Database
from ticketrouter.adapters.policy_store import SqlPolicyVersions
from ticketrouter.adapters.rules_file import parse_policy_text
from ticketrouter.bootstrap import bootstrap
from ticketrouter.config import Settings
from ticketrouter.domain.errors import InvalidField, NotFound
from ticketrouter.domain.plan import ContactFacts
from ticketrouter.domain.policy import Policy
from ticketrouter.domain.policy_document import InvalidPolicy
from ticketrouter.service_layer.policies import (
    PolicyWatch,
    apply_policy,
    rollback_policy,
    start_policy,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
FILE_SOURCE = RULES_FILE.read_text(encoding="utf-8")
V2 = FILE_SOURCE.replace("skills: {billing: 3}", "skills: {billing: 2}")


def test_apply_appends_versions_with_author_time_and_diff(database: Database) -> None:
    versions = SqlPolicyVersions(database)
    assert versions.latest_number() == 0
    first = apply_policy(versions, parse_policy_text, FILE_SOURCE, "ana", NOW)
    second = apply_policy(versions, parse_policy_text, V2, "ben", NOW + timedelta(minutes=1))
    assert (first.record.version, second.record.version) == (1, 2)
    assert (first.policy.version, second.policy.version) == (1, 2)
    assert versions.latest_number() == 2
    history = versions.history()
    assert [(v.version, v.author) for v in history] == [(2, "ben"), (1, "ana")]
    assert history[0].created_at == NOW + timedelta(minutes=1)
    assert "-    skills: {billing: 3}\n+    skills: {billing: 2}\n" in history[0].diff
    assert history[0].diff.startswith("--- v1\n+++ v2\n")
    assert history[1].diff.startswith("--- (none)\n+++ v1\n")
    stored = versions.get(2)
    assert stored is not None and stored.source == V2


def test_an_invalid_policy_or_a_missing_author_changes_nothing(database: Database) -> None:
    versions = SqlPolicyVersions(database)
    apply_policy(versions, parse_policy_text, FILE_SOURCE, "ana", NOW)
    with pytest.raises(InvalidPolicy):
        apply_policy(versions, parse_policy_text, "rules: [{name: x, when: 'nope'}]", "ana", NOW)
    with pytest.raises(InvalidField) as err:
        apply_policy(versions, parse_policy_text, V2, "  ", NOW)
    assert err.value.field == "author"
    assert versions.latest_number() == 1


def test_reapplying_the_policy_in_force_appends_nothing(database: Database) -> None:
    versions = SqlPolicyVersions(database)
    apply_policy(versions, parse_policy_text, FILE_SOURCE, "ana", NOW)
    again = apply_policy(versions, parse_policy_text, FILE_SOURCE, "ana", NOW)
    assert not again.changed
    assert again.record.version == versions.latest_number() == 1


def test_a_rollback_is_a_new_version_with_the_old_source(database: Database) -> None:
    versions = SqlPolicyVersions(database)
    apply_policy(versions, parse_policy_text, FILE_SOURCE, "ana", NOW)
    apply_policy(versions, parse_policy_text, V2, "ben", NOW)
    rolled = rollback_policy(versions, parse_policy_text, 1, "cleo", NOW)
    assert (rolled.record.version, rolled.record.note, rolled.record.author) == (
        3,
        "rollback to v1",
        "cleo",
    )
    assert rolled.record.source == FILE_SOURCE
    assert "+    skills: {billing: 3}" in rolled.record.diff
    assert [v.version for v in versions.history()] == [3, 2, 1]  # nothing rewritten
    with pytest.raises(NotFound):
        rollback_policy(versions, parse_policy_text, 9, "cleo", NOW)
    with pytest.raises(InvalidField):
        rollback_policy(versions, parse_policy_text, 0, "cleo", NOW)


def test_concurrent_applies_get_distinct_numbers(database: Database) -> None:
    versions = SqlPolicyVersions(database)
    errors: list[BaseException] = []

    def apply(number: int) -> None:
        source = FILE_SOURCE + f"# edit {number}\n"
        try:
            apply_policy(versions, parse_policy_text, source, f"user{number}", NOW)
        except BaseException as err:  # reported below, not lost in the thread
            errors.append(err)

    threads = [threading.Thread(target=apply, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(v.version for v in versions.history()) == [1, 2, 3, 4]


def test_a_fresh_database_starts_from_the_rules_file(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    versions = SqlPolicyVersions(database)
    policy = start_policy(versions, parse_policy_text, FILE_SOURCE, "rules.yaml", NOW)
    assert policy.version == 1
    record = versions.latest()
    assert record is not None and (record.author, record.note) == ("bootstrap", "from rules.yaml")
    # Once applied, the database wins over an edited file, and says so.
    apply_policy(versions, parse_policy_text, V2, "ben", NOW)
    with caplog.at_level(logging.WARNING):
        policy = start_policy(versions, parse_policy_text, FILE_SOURCE, "rules.yaml", NOW)
    assert policy.version == 2
    assert versions.latest_number() == 2
    assert "the rules file differs from the routing policy in force" in caplog.text


def test_the_watch_notices_a_version_applied_elsewhere(database: Database) -> None:
    versions = SqlPolicyVersions(database)
    start_policy(versions, parse_policy_text, FILE_SOURCE, "rules.yaml", NOW)
    watch = PolicyWatch(versions, parse_policy_text, current=1)
    installed: list[Policy] = []
    assert not watch.poll(installed.append)
    apply_policy(SqlPolicyVersions(database), parse_policy_text, V2, "ben", NOW)
    assert watch.poll(installed.append)
    [policy] = installed
    assert policy.version == 2
    refund = ContactFacts("email", "billing.refund", "en")
    assert policy.plan_for(refund).requirements.skills == (("billing", 2),)
    assert not watch.poll(installed.append)
    assert len(installed) == 1


def test_every_app_routes_with_the_version_in_force(sqlite_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=sqlite_url, rules_file=RULES_FILE)
    first = bootstrap(settings, CollectorRegistry())
    second = bootstrap(settings, CollectorRegistry())  # another replica, same database
    try:
        assert first.routing.policy.version == second.routing.policy.version == 1
        apply_policy(SqlPolicyVersions(first.database), parse_policy_text, V2, "ben", NOW)
        assert second.reload_policy()
        assert not second.reload_policy()
        assert second.routing.policy.version == 2
        plan = second.routing.policy.plan_for(ContactFacts("email", "billing.refund", "en"))
        assert (plan.policy_version, plan.requirements.skills) == (2, (("billing", 2),))
    finally:
        first.close()
        second.close()


def test_an_invalid_rules_file_stops_the_start_with_its_problems(
    sqlite_url: str, tmp_path: Path
) -> None:
    broken = tmp_path / "rules.yaml"
    broken.write_text("skills: [a]\nrules:\n  - {name: default, skills: {b: 1}}\n")
    with pytest.raises(SystemExit, match=r"rule 'default', field 'skills\.b': unknown skill"):
        bootstrap(Settings(database_url=sqlite_url, rules_file=broken), CollectorRegistry())


def test_once_a_policy_is_applied_the_rules_file_is_not_needed(
    sqlite_url: str, tmp_path: Path
) -> None:
    missing = tmp_path / "gone.yaml"
    with pytest.raises(SystemExit, match=r"cannot read .*gone\.yaml, and no routing policy"):
        bootstrap(Settings(database_url=sqlite_url, rules_file=missing), CollectorRegistry())
    bootstrap(Settings(database_url=sqlite_url, rules_file=RULES_FILE), CollectorRegistry()).close()
    app = bootstrap(Settings(database_url=sqlite_url, rules_file=missing), CollectorRegistry())
    try:
        assert app.routing.policy.version == 1
    finally:
        app.close()
