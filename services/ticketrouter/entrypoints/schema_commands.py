"""`ticketrouter db upgrade | current | check`: the schema's revision, by hand.

On PostgreSQL an operator upgrades once, before rolling out a new version (the
servers refuse a schema behind theirs); `check` is the gate a deploy job can run.
"""

from __future__ import annotations

import sys

from sqlalchemy.exc import OperationalError

from ticketrouter.adapters.database import Database, connect
from ticketrouter.adapters.schema import (
    SchemaNotCurrent,
    prepare_schema,
    schema_state,
    upgrade,
)
from ticketrouter.config import Settings


def require_current_schema(settings: Settings) -> None:
    """Raises SchemaNotCurrent unless the schema is (or, when allowed, is made) current."""
    database = connect(
        settings.database_url, settings.lock_timeout_ms, settings.statement_timeout_ms
    )
    try:
        prepare_schema(database.writer, settings.migrates_automatically)
    finally:
        database.dispose()


def run_db(settings: Settings, action: str) -> int:
    """0: done (or at head); 1: not at head, or the upgrade was refused; 2: no database."""
    database = _connect(settings)
    try:
        before = schema_state(database.writer)
        if action == "current":
            print(f"database schema: {before.describe()}")
            return 0
        if action == "check":
            print(f"database schema: {before.describe()}")
            return 0 if before.at_head else 1
        after = upgrade(database.writer)
        if before.at_head:
            print(f"database schema: already {after.describe()}")
        else:
            print(f"database schema: upgraded from {before.current or 'nothing'} to {after.head}")
        return 0
    except SchemaNotCurrent as err:
        print(f"ticketrouter db {action}: {err}", file=sys.stderr)
        return 1
    except OperationalError as err:
        first = str(err.orig or err).splitlines()[0]
        print(f"ticketrouter db {action}: database unreachable: {first}", file=sys.stderr)
        return 2
    finally:
        database.dispose()


def _connect(settings: Settings) -> Database:
    return connect(settings.database_url, settings.lock_timeout_ms, settings.statement_timeout_ms)
