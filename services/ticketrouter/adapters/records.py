"""Plain-dict forms of domain values, for JSON columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ticketrouter.domain.cases import Case, CaseStatus
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.customers import Contact
from ticketrouter.domain.decisions import Explanation
from ticketrouter.domain.plan import Plan, Step, Strategy
from ticketrouter.domain.requirements import AuthorityNeed, Requirements

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # stands in for a missing time


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything stored is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def contact_from_row(r: Any) -> Contact:
    return Contact(
        r["event_id"],
        r["customer_id"],
        r["case_id"],
        Channel(r["channel"]),
        r["topic"],
        r["subject"],
        utc(r["occurred_at"]) or EPOCH,
        r["outcome"],
    )


def requirements_to_dict(req: Requirements) -> dict[str, Any]:
    return {
        "skills": [list(pair) for pair in req.skills],
        "authority": [[n.name, n.at_least, n.must_be_true] for n in req.authority],
        "language": req.language,
        "teams": sorted(req.teams),
    }


def requirements_from_dict(data: dict[str, Any]) -> Requirements:
    return Requirements(
        skills=tuple((str(s), int(level)) for s, level in data.get("skills", [])),
        authority=tuple(
            AuthorityNeed(str(name), None if at_least is None else float(at_least), bool(flag))
            for name, at_least, flag in data.get("authority", [])
        ),
        language=data.get("language") or None,
        teams=frozenset(data.get("teams", ())),
    )


def explanation_to_dict(exp: Explanation) -> dict[str, Any]:
    return {
        "rule": exp.rule,
        "requirements": requirements_to_dict(exp.requirements),
        "channel": exp.channel.value,
        "candidates_considered": exp.candidates_considered,
        "eligible": exp.eligible,
        "excluded_by_reason": exp.excluded_by_reason,
        "winner_reason": exp.winner_reason,
        "summary": exp.summary,
        "policy_version": exp.policy_version,
        "step": exp.step,
        "strategy": exp.strategy,
        "excluded_agents": [list(pair) for pair in exp.excluded_agents],
    }


def explanation_from_dict(data: dict[str, Any] | None) -> Explanation | None:
    if not data:
        return None
    return Explanation(
        rule=data["rule"],
        requirements=requirements_from_dict(data["requirements"]),
        channel=Channel(data["channel"]),
        candidates_considered=data["candidates_considered"],
        eligible=data["eligible"],
        excluded_by_reason=dict(data["excluded_by_reason"]),
        winner_reason=data["winner_reason"],
        summary=data["summary"],
        policy_version=data["policy_version"],
        step=data.get("step", 0),
        strategy=data.get("strategy", ""),
        excluded_agents=tuple((a, r) for a, r in data.get("excluded_agents", ())),
    )


def plan_to_dict(plan: Plan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    return {
        "rule": plan.rule,
        "requirements": requirements_to_dict(plan.requirements),
        "priority": plan.priority,
        "strategy": plan.strategy.value,
        "prefer_relationship": plan.prefer_relationship,
        "steps": [
            [s.after_seconds, s.proficiency_delta, sorted(s.extra_teams), s.drop_language]
            for s in plan.steps
        ],
        "policy_version": plan.policy_version,
    }


def plan_from_dict(data: dict[str, Any] | None) -> Plan | None:
    if not data:
        return None
    return Plan(
        rule=data["rule"],
        requirements=requirements_from_dict(data["requirements"]),
        priority=data["priority"],
        strategy=Strategy(data["strategy"]),
        prefer_relationship=data["prefer_relationship"],
        steps=tuple(
            Step(float(after), int(delta), frozenset(teams), bool(drop))
            for after, delta, teams, drop in data["steps"]
        ),
        policy_version=data["policy_version"],
    )


def case_from_row(row: Any) -> Case:
    """A case from its row (a mapping), as the repository and the read model read it."""
    return Case(
        case_id=row["id"],
        customer_id=row["customer_id"],
        topic=row["topic"],
        rule=row["rule"],
        requirements=requirements_from_dict(row["requirements"]),
        priority=row["priority"],
        status=CaseStatus(row["status"]),
        channel=Channel(row["channel"]),
        first_channel=Channel(row["first_channel"]),
        opened_at=utc(row["opened_at"]) or EPOCH,
        owner_agent_id=row["owner_agent_id"],
        contact_count=row["contact_count"],
        handoff_count=row["handoff_count"],
        queued_at=utc(row["queued_at"]),
        assigned_at=utc(row["assigned_at"]),
        resolved_at=utc(row["resolved_at"]),
        resolution_code=row["resolution_code"],
        first_contact_resolved=row["first_contact_resolved"],
        csat=row["csat"],
        last_decision=explanation_from_dict(row["last_decision"]),
        version=row["version"],
        plan=plan_from_dict(row["plan"]),
        step=row["step"],
        offer_expires_at=utc(row["offer_expires_at"]),
        declined_by=tuple(row["declined_by"] or ()),
        live_contacts=tuple(
            (contact_id, Channel(channel)) for contact_id, channel in row["live_contacts"] or ()
        ),
        slot_held_until=utc(row["slot_held_until"]),
        abandoned_at=utc(row["abandoned_at"]),
    )
