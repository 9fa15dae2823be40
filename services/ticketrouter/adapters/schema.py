"""The database schema's revision, checked and brought to this version's head with
Alembic (the SQLAlchemy project's migration tool).

A database with none of our tables is created from the models and stamped at head
in one step (Alembic's recommended start: no need to replay every revision). One
that predates migrations is adopted when its tables equal the models. Otherwise its
revision decides: at head it is used, behind it is upgraded only when asked (or
with auto-migrate), ahead of this version (a newer ticketrouter migrated it) it is
refused: an old binary must not write a schema it does not know.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect
from sqlmodel import SQLModel

from ticketrouter.adapters import orm  # noqa: F401  (registers the tables)

SCRIPTS = Path(__file__).with_name("migrations")
UPGRADE_COMMAND = "ticketrouter db upgrade"


class SchemaNotCurrent(Exception):
    """The database's schema is not this version's head; the message says what to do."""


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # None: no revision recorded
    head: str
    has_tables: bool
    known: bool  # the current revision is one of this version's scripts

    @property
    def at_head(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        if self.at_head:
            return f"at head ({self.head})"
        if not self.has_tables:
            return f"empty; this version's head is {self.head}"
        if self.current is None:
            return f"no revision recorded (made before migrations); head is {self.head}"
        if not self.known:
            return (
                f"at {self.current}, which this version does not know (a newer "
                f"ticketrouter migrated it); this version's head is {self.head}"
            )
        return f"at {self.current}, behind this version's head {self.head}"


def alembic_config(engine: Engine, scripts: Path = SCRIPTS) -> Config:
    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.attributes["engine"] = engine
    return config


def schema_state(engine: Engine, scripts: Path = SCRIPTS) -> SchemaState:
    directory = ScriptDirectory(str(scripts))
    head = directory.get_current_head()
    assert head is not None, "no revisions in the script directory"
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        tables = set(inspect(connection).get_table_names()) & set(SQLModel.metadata.tables)
    known = current is None or _known(directory, current)
    return SchemaState(current, head, bool(tables), known)


def prepare_schema(engine: Engine, auto_migrate: bool, scripts: Path = SCRIPTS) -> SchemaState:
    """Leaves the database at head or raises SchemaNotCurrent saying why and what to run."""
    with _one_at_a_time(engine):
        return _prepare(engine, auto_migrate, scripts)


def upgrade(engine: Engine, scripts: Path = SCRIPTS) -> SchemaState:
    with _one_at_a_time(engine):
        return _prepare(engine, True, scripts)


def _prepare(engine: Engine, auto_migrate: bool, scripts: Path) -> SchemaState:
    state = schema_state(engine, scripts)
    if state.at_head:
        return state
    if not state.has_tables:
        SQLModel.metadata.create_all(engine)
        _run(engine, scripts, lambda config: command.stamp(config, "head"))
        return schema_state(engine, scripts)
    if state.current is None:
        return _adopt(engine, scripts, state)
    if not state.known:
        raise SchemaNotCurrent(
            f"the database schema is {state.describe()}: run that newer version, "
            "or point TICKETROUTER_DATABASE_URL at a database this version made"
        )
    if not auto_migrate:
        raise SchemaNotCurrent(
            f"the database schema is {state.describe()}: run `{UPGRADE_COMMAND}` "
            "(or start with TICKETROUTER_AUTO_MIGRATE=1)"
        )
    return run_revisions(engine, "head", scripts)


def run_revisions(engine: Engine, target: str, scripts: Path = SCRIPTS) -> SchemaState:
    """Apply the revisions up (or, with "-1", down) to `target`, one transaction each."""
    if target.startswith("-"):
        _run(engine, scripts, lambda config: command.downgrade(config, target))
    else:
        _run(engine, scripts, lambda config: command.upgrade(config, target))
    return schema_state(engine, scripts)


def differences(engine: Engine) -> list[str]:
    """How the database's tables differ from the models (empty when they agree)."""
    with engine.connect() as connection:
        return [_difference(d) for d in compare_metadata(_context(connection), SQLModel.metadata)]


def _adopt(engine: Engine, scripts: Path, state: SchemaState) -> SchemaState:
    found = differences(engine)
    if found:
        shown = "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
        raise SchemaNotCurrent(
            f"the database schema has {state.describe()}, and it differs from this "
            f"version's tables ({shown}): point TICKETROUTER_DATABASE_URL at a new database"
        )
    _run(engine, scripts, lambda config: command.stamp(config, "head"))
    return schema_state(engine, scripts)


def _run(engine: Engine, scripts: Path, step: object) -> None:
    with _IN_THIS_PROCESS, _connection(engine) as connection:
        config = alembic_config(engine, scripts)
        config.attributes["connection"] = connection
        step(config)  # type: ignore[operator]


# Any constant shared by every ticketrouter process: the advisory lock's key.
_PG_SCHEMA_LOCK = 0x7E1C_E7A0


# Alembic keeps the running migration's context in module globals (`alembic.context`,
# `alembic.op`): two threads of one process running it at once read each other's.
_IN_THIS_PROCESS = threading.RLock()


@contextmanager
def _one_at_a_time(engine: Engine) -> Iterator[None]:
    """Workers starting together would each create or stamp the schema: one at a
    time, the first does it and the others find it done. Within a process a lock;
    across processes an advisory lock on PostgreSQL, while on SQLite each step is a
    transaction of the writer engine, which takes the one writer lock up front
    (BEGIN IMMEDIATE)."""
    with _IN_THIS_PROCESS, _across_processes(engine):
        yield


@contextmanager
def _across_processes(engine: Engine) -> Iterator[None]:
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_SCHEMA_LOCK})")
        connection.commit()
        try:
            yield
        finally:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_SCHEMA_LOCK})")
            connection.commit()


@contextmanager
def _connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        yield connection
        connection.commit()


def _context(connection: Connection) -> MigrationContext:
    return MigrationContext.configure(connection, opts={"compare_type": True})


def _known(directory: ScriptDirectory, revision: str) -> bool:
    try:
        return directory.get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown id
        return False


def _difference(item: object) -> str:
    # compare_metadata yields ("add_table", Table) tuples, or lists of column changes.
    first = item[0] if isinstance(item, list) else item
    if isinstance(first, tuple) and first:
        kind = str(first[0]).replace("_", " ")
        subject = next((getattr(p, "name", None) for p in first[1:] if hasattr(p, "name")), "")
        table = next((p for p in first[1:] if isinstance(p, str)), "")
        return " ".join(part for part in (kind, table, str(subject or "")) if part)
    return str(item)
