"""Database schema. Rows convert to and from domain objects in `repository`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary
from sqlmodel import Field, SQLModel


def _when(index: bool = False, nullable: bool = True) -> Any:
    return Field(
        default=None, sa_column=Column(DateTime(timezone=True), index=index, nullable=nullable)
    )


class CustomerRow(SQLModel, table=True):
    __tablename__ = "customers"
    id: str = Field(primary_key=True, max_length=64)
    display_name: str = ""
    tier: str = "standard"
    language: str = ""
    created_at: datetime | None = _when()
    merged_into: str | None = Field(default=None, max_length=64)


class IdentityRow(SQLModel, table=True):
    __tablename__ = "identities"
    kind: str = Field(primary_key=True, max_length=16)
    value: str = Field(primary_key=True, max_length=256)
    customer_id: str = Field(index=True, max_length=64)
    linked_at: datetime | None = _when()


class MergeRow(SQLModel, table=True):
    """The audit of merges: who was merged into whom, when, by whom, on what grounds."""

    __tablename__ = "customer_merges"
    id: int | None = Field(default=None, primary_key=True)
    survivor_id: str = Field(index=True, max_length=64)
    merged_id: str = Field(max_length=64)
    merged_at: datetime | None = _when()
    event_id: str = Field(default="", max_length=128)
    actor: str = Field(default="", max_length=128)
    reason: str = Field(default="", max_length=500)


class ConflictRow(SQLModel, table=True):
    """An event whose identities were not merged; one row per customer involved."""

    __tablename__ = "identity_conflicts"
    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(index=True, max_length=64)
    event_id: str = Field(default="", max_length=128)
    customer_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    identities: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON))
    reason: str = Field(max_length=64)
    at: datetime | None = _when()


class OfferRow(SQLModel, table=True):
    __tablename__ = "customer_offers"
    customer_id: str = Field(primary_key=True, max_length=64)
    code: str = Field(primary_key=True, max_length=64)
    description: str = Field(default="", max_length=500)
    expires_at: datetime | None = _when()
    added_at: datetime | None = _when()


class CaseRow(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_customer_topic", "customer_id", "topic", "status"),
        Index("ix_cases_queue", "status", "queue_rank"),
        Index("ix_cases_next_step", "status", "next_step_at"),
        Index("ix_cases_offer_expiry", "status", "offer_expires_at"),
        Index("ix_cases_wrap_up", "status", "slot_held_until"),
        # GetResolutionReport counts the abandonments of a period.
        Index("ix_cases_abandoned_at", "abandoned_at"),
        # The fairness gauges count the assignments of a recent window (fairness_reader).
        Index("ix_cases_assigned_at", "assigned_at", "owner_agent_id"),
    )
    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(max_length=64)
    topic: str = Field(max_length=128)
    rule: str = ""
    status: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    first_channel: str = Field(max_length=16)
    owner_agent_id: str | None = Field(default=None, index=True, max_length=64)
    priority: int = 0
    requirements: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    contact_count: int = 1
    handoff_count: int = 0
    opened_at: datetime | None = _when()
    queued_at: datetime | None = _when()
    assigned_at: datetime | None = _when()
    resolved_at: datetime | None = _when()
    resolution_code: str = ""
    first_contact_resolved: bool = False
    csat: int | None = None
    last_decision: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    version: int = 0
    plan: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    step: int = 0
    # Queue order with aging, as one indexable number (see Case.queue_rank); set while
    # the case waits.
    queue_rank: float | None = None
    next_step_at: datetime | None = _when()
    offer_expires_at: datetime | None = _when()
    declined_by: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    # [[contact id, channel], ...]: the contacts not yet ended or abandoned (Case).
    live_contacts: list[list[str]] | None = Field(default=None, sa_column=Column(JSON))
    slot_held_until: datetime | None = _when()  # the owner's wrap-up ends
    abandoned_at: datetime | None = _when()


class ContactRow(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_customer_time", "customer_id", "occurred_at"),)
    event_id: str = Field(primary_key=True, max_length=128)
    customer_id: str = Field(max_length=64)
    case_id: str = Field(index=True, max_length=64)
    channel: str = Field(max_length=16)
    topic: str = Field(max_length=128)
    subject: str = ""
    occurred_at: datetime | None = _when()
    outcome: str = ""


class AgentRow(SQLModel, table=True):
    __tablename__ = "agents"
    id: str = Field(primary_key=True, max_length=64)
    name: str = ""
    team: str = ""
    skills: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON))
    authority: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON))
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    presence: str = Field(default="offline", index=True, max_length=16)
    last_assigned_at: datetime | None = _when()
    missed_offers: int = 0  # offers let lapse in a row; too many and they go away
    # Since when some slot of the agent's has held work without a pause (null: idle),
    # kept at commit with last_assigned_at (queries.SETTLE_AGENT).
    busy_since: datetime | None = _when()
    # Blended capacity: the total the agent's channel costs must fit (0: not blended).
    units: int = 0


class AgentChannelRow(SQLModel, table=True):
    """One row per agent and channel: the unit of atomic capacity reservation."""

    __tablename__ = "agent_channels"
    agent_id: str = Field(primary_key=True, max_length=64)
    channel: str = Field(primary_key=True, max_length=16)
    capacity: int = 0
    load: int = 0
    cost: int = 0  # units one contact on the channel takes of the agent's units
    # Work on an exclusive channel is never held beside work on another channel.
    exclusive: bool = False


class HandoffRow(SQLModel, table=True):
    __tablename__ = "handoffs"
    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=64)
    from_agent_id: str = Field(max_length=64)
    to_agent_id: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=32)
    at: datetime | None = _when()


class ResolutionRow(SQLModel, table=True):
    """Every resolution, for reports that must match the Prometheus counters exactly.

    `matured_at`: when a housekeeping tick saw its FCR window close and counted it
    (null until then). Set once, by the one transaction that counts it, so no two
    processes count a resolution twice; `first_contact` is final from then on."""

    __tablename__ = "resolutions"
    # Finds the resolutions due to mature (matured_at null, oldest resolved first)
    # and reports on those that matured in a time range, without a scan.
    __table_args__ = (Index("ix_resolutions_maturing", "matured_at", "resolved_at"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=64)
    channel: str = Field(max_length=16)
    resolved_at: datetime | None = _when(index=True)
    first_contact: bool = False
    handoffs: int = 0
    matured_at: datetime | None = _when()


class SurveyRow(SQLModel, table=True):
    """Every survey answer counted, for a CSAT report that matches the counters.

    An answer is counted at `counted_at` under the case's state then (first channel,
    handoffs, first-contact resolved); a later answer for the same case replaces it:
    the earlier row gets `replaced_at`, when the counters count it as replaced."""

    __tablename__ = "surveys"
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=64)
    case_id: str = Field(index=True, max_length=64)
    channel: str = Field(max_length=16)
    score: int = 0
    handoffs: int = 0
    first_contact: bool = False
    answered_at: datetime | None = _when()  # when the customer answered (the event's time)
    counted_at: datetime | None = _when(index=True)
    replaced_at: datetime | None = _when(index=True)


class TimelineRow(SQLModel, table=True):
    __tablename__ = "timeline"
    __table_args__ = (Index("ix_timeline_customer_time", "customer_id", "at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(max_length=64)
    at: datetime | None = _when()
    kind: str = Field(max_length=16)
    case_id: str = Field(default="", max_length=64)
    channel: str = Field(default="", max_length=16)
    detail: str = Field(default="", max_length=500)


class ProcessedEventRow(SQLModel, table=True):
    """Idempotency: an event id here has had its effects committed."""

    __tablename__ = "processed_events"
    event_id: str = Field(primary_key=True, max_length=128)
    processed_at: datetime | None = _when()


class OutboxRow(SQLModel, table=True):
    """Decisions committed with their transaction, published to Kafka afterwards."""

    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime | None = _when()


class PolicyVersionRow(SQLModel, table=True):
    """Every routing policy ever applied, never changed afterwards. The newest row is
    the policy in force; a rollback appends a copy of an older one."""

    __tablename__ = "policy_versions"
    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    source: str  # unbounded text on SQLite and PostgreSQL alike
    author: str = Field(max_length=200)
    note: str = Field(default="", max_length=200)
    diff: str = ""
    created_at: datetime | None = _when()
