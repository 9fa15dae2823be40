"""The schema's revision on real SQLite and PostgreSQL: the migrations build exactly
the models, a new database starts at head, an old one is adopted only when its
tables match, a schema behind this version is upgraded only when asked and keeps
its rows, and one ahead of this version is refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from tests.builders import RULES_FILE
from ticketrouter.adapters.database import Database, connect
from ticketrouter.adapters.schema import (
    SCRIPTS,
    SchemaNotCurrent,
    differences,
    prepare_schema,
    run_revisions,
    schema_state,
)
from ticketrouter.bootstrap import bootstrap
from ticketrouter.config import Settings
from ticketrouter.entrypoints.cli import main

NEXT_REVISION = '''"""A column added nullable: no table rewrite, no long lock."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "9002"
down_revision: str | None = "{head}"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("summary", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("summary")
'''


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = connect(database_url)
    yield database
    database.dispose()


@pytest.fixture
def next_version(tmp_path: Path) -> Path:
    """This version's scripts plus one more revision, as the next release ships them."""
    scripts = tmp_path / "migrations"
    shutil.copytree(SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    head = schema_state_head()
    (scripts / "versions" / "r9002_case_summary.py").write_text(NEXT_REVISION.format(head=head))
    return scripts


def schema_state_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(SCRIPTS)).get_current_head()
    assert head is not None
    return head


def columns(db: Database, table: str) -> set[str]:
    return {c["name"] for c in inspect(db.writer).get_columns(table)}


def test_the_migrations_build_exactly_the_models(db: Database) -> None:
    state = run_revisions(db.writer, "head")  # every revision, not create_all
    assert state.at_head
    assert differences(db.writer) == []


def test_a_new_database_starts_at_head(db: Database) -> None:
    app = bootstrap(Settings(database_url=db.url, rules_file=RULES_FILE, auto_migrate=False))
    app.close()
    state = schema_state(db.writer)
    assert state.at_head and state.has_tables


def test_a_database_from_before_migrations_is_adopted_when_its_tables_match(
    db: Database,
) -> None:
    SQLModel.metadata.create_all(db.writer)
    assert schema_state(db.writer).current is None
    assert prepare_schema(db.writer, auto_migrate=False).at_head


def test_a_database_from_before_migrations_that_differs_is_refused(db: Database) -> None:
    SQLModel.metadata.create_all(db.writer)
    with db.writer.begin() as connection:
        connection.exec_driver_sql("DROP INDEX IF EXISTS ix_cases_customer_topic")
        connection.exec_driver_sql("ALTER TABLE cases DROP COLUMN topic")
    with pytest.raises(SchemaNotCurrent, match=r"differs from this version's tables.*topic"):
        prepare_schema(db.writer, auto_migrate=True)
    assert schema_state(db.writer).current is None, "nothing stamped"


def test_a_schema_from_a_newer_version_is_refused_even_with_auto_migrate(db: Database) -> None:
    prepare_schema(db.writer, auto_migrate=False)
    with db.writer.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(SchemaNotCurrent, match="f00d, which this version does not know"):
        prepare_schema(db.writer, auto_migrate=True)
    with pytest.raises(SchemaNotCurrent, match="does not know"):
        bootstrap(Settings(database_url=db.url, rules_file=RULES_FILE, auto_migrate=True))


def test_a_schema_behind_is_refused_without_auto_migrate_and_upgraded_with_it(
    db: Database, next_version: Path
) -> None:
    prepare_schema(db.writer, auto_migrate=False)  # this version's head
    with db.writer.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO customers (id, display_name, tier, language) "
                "VALUES ('cus-1', 'Ana', 'standard', 'en')"
            )
        )
    with pytest.raises(SchemaNotCurrent, match=r"behind .* run `ticketrouter db upgrade`"):
        prepare_schema(db.writer, auto_migrate=False, scripts=next_version)
    assert "summary" not in columns(db, "cases")

    state = prepare_schema(db.writer, auto_migrate=True, scripts=next_version)
    assert state.current == "9002" and state.at_head
    assert "summary" in columns(db, "cases")
    with db.writer.connect() as connection:
        names = connection.execute(text("SELECT display_name FROM customers")).scalars().all()
    assert names == ["Ana"], "rows survive the upgrade"

    down = run_revisions(db.writer, "-1", scripts=next_version)
    assert down.current == schema_state_head()
    assert "summary" not in columns(db, "cases")


def test_the_baseline_refuses_to_be_downgraded(db: Database) -> None:
    run_revisions(db.writer, "head")
    # later revisions step down to the baseline; the baseline itself refuses
    assert run_revisions(db.writer, "-1").current == "0005"
    assert "units" not in {c["name"] for c in inspect(db.writer).get_columns("agents")}
    assert "cost" not in {c["name"] for c in inspect(db.writer).get_columns("agent_channels")}
    assert run_revisions(db.writer, "-1").current == "0004"
    assert "live_contacts" not in {c["name"] for c in inspect(db.writer).get_columns("cases")}
    assert run_revisions(db.writer, "-1").current == "0003"
    assert "busy_since" not in {c["name"] for c in inspect(db.writer).get_columns("agents")}
    assert "ix_cases_assigned_at" not in {
        i["name"] for i in inspect(db.writer).get_indexes("cases")
    }
    assert run_revisions(db.writer, "-1").current == "0002"
    assert "surveys" not in inspect(db.writer).get_table_names()
    assert run_revisions(db.writer, "-1").current == "0001"
    assert "matured_at" not in {c["name"] for c in inspect(db.writer).get_columns("resolutions")}
    with pytest.raises(NotImplementedError, match="drop every table"):
        run_revisions(db.writer, "-1")
    assert schema_state(db.writer).current == "0001"
    run_revisions(db.writer, "head")
    assert schema_state(db.writer).at_head


def test_db_commands_check_upgrade_and_say_where_the_schema_is(
    db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TICKETROUTER_DATABASE_URL", db.url)
    assert main(["db", "check"]) == 1
    assert "empty" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "upgraded from nothing to" in capsys.readouterr().out
    assert main(["db", "check"]) == 0
    assert main(["db", "current"]) == 0
    assert f"at head ({schema_state_head()})" in capsys.readouterr().out


def _start_together(starts: int, start: Callable[[], None]) -> list[BaseException]:
    barrier = threading.Barrier(starts)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            start()
        except BaseException as err:
            failures.append(err)

    threads = [threading.Thread(target=run) for _ in range(starts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return failures


def _drop_everything(db: Database) -> None:
    SQLModel.metadata.drop_all(db.writer)
    with db.writer.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


def _versions(db: Database) -> list[str]:
    with db.writer.connect() as connection:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return [v for (v,) in rows]


def test_threads_starting_together_create_the_schema_once(db: Database) -> None:
    """Alembic keeps its running context in module globals: threads of one process
    (a runtime and a bench rig, or tests) must not run it at the same time."""

    def start() -> None:
        engine = connect(db.url).writer  # a pool of its own, as a process would have
        try:
            prepare_schema(engine, auto_migrate=False)
        finally:
            engine.dispose()

    for _round in range(10):  # the race is short: give it several chances
        _drop_everything(db)
        assert _start_together(6, start) == []
        assert _versions(db) == [schema_state_head()]


def test_processes_starting_together_create_the_schema_once(db: Database, tmp_path: Path) -> None:
    go = tmp_path / "go"
    script = (
        "import os, sys, time\n"
        "from ticketrouter.adapters.database import connect\n"
        "from ticketrouter.adapters.schema import prepare_schema\n"
        "engine = connect(sys.argv[1]).writer\n"
        "open(sys.argv[3], 'w').close()  # imported: ready\n"
        "while not os.path.exists(sys.argv[2]):\n"
        "    time.sleep(0.001)\n"
        "prepare_schema(engine, auto_migrate=False)\n"
    )
    ready = [tmp_path / f"ready-{n}" for n in range(4)]
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", script, db.url, str(go), str(flag)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 120
    while not all(flag.exists() for flag in ready):  # all imported: start them at once
        assert time.monotonic() < deadline, "the processes never got ready"
        assert all(p.poll() is None for p in starts), "a process ended before the start"
        time.sleep(0.01)
    go.touch()
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in starts]
    assert [code for code, _ in results] == [0, 0, 0, 0], [err[-1500:] for _, err in results]
    assert _versions(db) == [schema_state_head()]
