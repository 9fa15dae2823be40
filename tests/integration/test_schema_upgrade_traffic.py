"""An upgrade loses nothing: a database at the baseline revision, filled by real
routing (merged customers, cases assigned, queued and resolved, timeline, notes,
outbox rows, policy versions), is upgraded to head, this release's and the next
one's, on SQLite and PostgreSQL; every row is still there and the next contacts
route as before."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from sqlmodel import SQLModel

from tests.builders import RULES_FILE, agent, contact, rules
from tests.integration.test_schema_migrations import NEXT_REVISION, schema_state_head
from ticketrouter.adapters.codec import encode_decision
from ticketrouter.adapters.database import Database, connect
from ticketrouter.adapters.orm import IdentityRow
from ticketrouter.adapters.schema import SCRIPTS, prepare_schema, run_revisions, schema_state
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.bootstrap import bootstrap
from ticketrouter.config import Settings
from ticketrouter.domain.commands import AddNote, ResolveCase
from ticketrouter.domain.decisions import Outcome
from ticketrouter.service_layer.cases import add_note, resolve_case
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.settings import RoutingSettings

BASELINE = "0001"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SETTINGS = RoutingSettings(rules())
# Tables a real day of routing must have written before the upgrade is worth testing.
MUST_HAVE_ROWS = (
    "customers",
    "identities",
    "customer_merges",
    "cases",
    "contacts",
    "timeline",
    "resolutions",
    "processed_events",
    "outbox",
    "agents",
    "agent_channels",
    "policy_versions",
)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = connect(database_url)
    yield database
    database.dispose()


@pytest.fixture(params=["this release", "next release"])
def scripts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "this release":
        return SCRIPTS
    copy = tmp_path / "migrations"
    shutil.copytree(SCRIPTS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    revision = NEXT_REVISION.format(head=schema_state_head())
    (copy / "versions" / "r9002_case_summary.py").write_text(revision)
    return copy


def route_a_day(db: Database) -> None:
    # Starting the service records the policy in force as version 1.
    bootstrap(Settings(database_url=db.url, rules_file=RULES_FILE, auto_migrate=False)).close()
    with SqlUnitOfWork(db.writer) as uow:
        uow.repo.upsert_agent(agent("kim", {"general": 5}, capacity={"email": 2, "chat": 1}))
        uow.commit()
    for n in range(12):
        at = T0 + timedelta(minutes=n)
        email, phone = ("email", f"p{n % 5}@x.com"), ("phone", f"+1415555{n % 7:04d}")
        with SqlUnitOfWork(db.writer, encode_decision) as uow:  # decisions to the outbox
            [decision] = handle_events([contact(email, phone, at=at)], uow, at, SETTINGS)
            if decision is not None and decision.agent_id and n % 3 == 0:
                add_note(AddNote(decision.case_id, "kim", f"note {n}"), uow, at, SETTINGS)
                resolve_case(ResolveCase(decision.case_id, "answered"), uow, at, SETTINGS)
            uow.commit()


def row_counts(db: Database) -> dict[str, int]:
    """Rows of each table the database has (a baseline lacks later releases' tables)."""
    with db.writer.connect() as connection:
        present = set(inspect(connection).get_table_names())
        return {
            name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in SQLModel.metadata.tables.items()
            if name in present
        }


def test_an_upgrade_keeps_every_row_and_routing_goes_on(db: Database, scripts: Path) -> None:
    # This release's code writes this release's schema, so the day is routed at head
    # and the database then stepped down to the baseline: the rows an 0.1 database
    # holds, in the tables 0.1 made.
    run_revisions(db.writer, "head")
    route_a_day(db)
    while (state := schema_state(db.writer)).current != BASELINE:
        run_revisions(db.writer, "-1")
    assert not state.at_head
    before = row_counts(db)
    empty = [name for name in MUST_HAVE_ROWS if before[name] == 0]
    assert empty == [], f"the traffic wrote nothing to {empty}"

    state = prepare_schema(db.writer, auto_migrate=True, scripts=scripts)

    assert state.at_head
    after = row_counts(db)
    assert {name: after[name] for name in before} == before
    assert set(after) == set(SQLModel.metadata.tables), "the upgrade made every table"
    returning = owner_of(db, "p1@x.com")
    at = T0 + timedelta(hours=1)
    with SqlUnitOfWork(db.writer) as uow:
        uow.repo.upsert_agent(agent("lee", {"general": 5}, capacity={"email": 2}))
        [again, new] = handle_events(
            [contact(("email", "p1@x.com"), at=at), contact(("email", "new@x.com"), at=at)],
            uow,
            at,
            SETTINGS,
        )
        uow.commit()
    assert again is not None and again.customer_id == returning, "the identity graph holds"
    assert new is not None and new.customer_id != returning
    assert (new.outcome, new.agent_id) == (Outcome.ASSIGNED, "lee")


def owner_of(db: Database, email: str) -> str:
    with db.writer.connect() as connection:
        query = select(IdentityRow.customer_id).where(
            IdentityRow.kind == "email", IdentityRow.value == email
        )
        return str(connection.execute(query).scalar_one())
