"""The routing policy versions, in the `policy_versions` table."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ticketrouter.adapters.database import Database
from ticketrouter.adapters.orm import PolicyVersionRow
from ticketrouter.service_layer.policies import PolicyVersion, PolicyVersions
from ticketrouter.service_layer.ports import ConcurrentUpdate

APPEND_ATTEMPTS = 5


class SqlPolicyVersions(PolicyVersions):
    def __init__(self, database: Database) -> None:
        self.database = database

    def latest_number(self) -> int:
        with Session(self.database.reader) as session:
            number = session.exec(select(func.max(PolicyVersionRow.version))).one()
        return int(number or 0)

    def get(self, version: int) -> PolicyVersion | None:
        with Session(self.database.reader) as session:
            row = session.get(PolicyVersionRow, version)
            return _record(row) if row is not None else None

    def history(self, before: int | None = None, limit: int | None = None) -> list[PolicyVersion]:
        """Newest first; only versions older than `before`, and `limit` of them,
        when given."""
        query = select(PolicyVersionRow).order_by(col(PolicyVersionRow.version).desc())
        if before is not None:
            query = query.where(col(PolicyVersionRow.version) < before)
        if limit is not None:
            query = query.limit(limit)
        with Session(self.database.reader) as session:
            rows = session.exec(query).all()
            return [_record(row) for row in rows]

    def append(
        self, source: str, author: str, note: str, now: datetime, only_if_empty: bool = False
    ) -> PolicyVersion | None:
        # Two replicas applying at once compute the same next number; the primary key
        # lets one of them in and the other tries again after it.
        for _ in range(APPEND_ATTEMPTS):
            try:
                return self._append(source, author, note, now, only_if_empty)
            except IntegrityError:
                continue
        raise ConcurrentUpdate("policy versions kept changing while appending one")

    def _append(
        self, source: str, author: str, note: str, now: datetime, only_if_empty: bool
    ) -> PolicyVersion | None:
        with Session(self.database.writer, expire_on_commit=False) as session:
            previous = session.exec(
                select(PolicyVersionRow).order_by(col(PolicyVersionRow.version).desc()).limit(1)
            ).first()
            if previous is not None and only_if_empty:
                return None
            number = previous.version + 1 if previous is not None else 1
            row = PolicyVersionRow(
                version=number,
                source=source,
                author=author,
                note=note,
                diff=unified_diff(
                    previous.source if previous else "",
                    source,
                    f"v{previous.version}" if previous else "(none)",
                    f"v{number}",
                ),
                created_at=now,
            )
            session.add(row)
            session.commit()
            return _record(row)


def unified_diff(before: str, after: str, before_name: str, after_name: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        before_name,
        after_name,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _record(row: PolicyVersionRow) -> PolicyVersion:
    created = row.created_at or datetime.now(UTC)
    if created.tzinfo is None:  # SQLite hands back naive times; they were stored in UTC
        created = created.replace(tzinfo=UTC)
    return PolicyVersion(row.version, row.source, row.author, created, row.diff, row.note)
