"""Build a RuleBook from plain data (a parsed YAML document), with errors that
name the rule, the field and the reason."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ticketrouter.domain.requirements import (
    MAX_PROFICIENCY,
    MIN_PROFICIENCY,
    AuthorityNeed,
    RuleBook,
    TopicRule,
)


@dataclass(frozen=True, slots=True)
class RuleProblem:
    rule: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"rule {self.rule!r}, field {self.field!r}: {self.reason}"


class InvalidRuleBook(ValueError):
    def __init__(self, problems: list[RuleProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def parse_rulebook(document: Any) -> RuleBook:
    """Validate the whole document and report every problem at once."""
    problems: list[RuleProblem] = []
    if not isinstance(document, Mapping):
        raise InvalidRuleBook([RuleProblem("-", "-", "the document must be a mapping")])
    version = document.get("version", 1)
    if not isinstance(version, int) or version < 1:
        problems.append(RuleProblem("-", "version", "must be a positive integer"))
        version = 1
    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise InvalidRuleBook([*problems, RuleProblem("-", "rules", "must be a non-empty list")])
    rules: list[TopicRule] = []
    seen_topics: dict[str, str] = {}
    for index, raw in enumerate(raw_rules):
        rule = _parse_rule(index, raw, problems)
        if rule is None:
            continue
        if rule.topic in seen_topics:
            problems.append(
                RuleProblem(
                    rule.name,
                    "topic",
                    f"unreachable: {seen_topics[rule.topic]!r} already handles {rule.topic!r}",
                )
            )
        seen_topics[rule.topic] = rule.name
        rules.append(rule)
    defaults = [r for r in rules if r.topic == "*"]
    if not defaults and not problems:
        problems.append(RuleProblem("-", "rules", "a default rule with topic '*' is required"))
    if problems:
        raise InvalidRuleBook(problems)
    return RuleBook(version, tuple(r for r in rules if r.topic != "*"), defaults[0])


def _parse_rule(index: int, raw: Any, problems: list[RuleProblem]) -> TopicRule | None:
    if not isinstance(raw, Mapping):
        problems.append(RuleProblem(f"#{index + 1}", "-", "a rule must be a mapping"))
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(RuleProblem(f"#{index + 1}", "name", "must be a non-empty string"))
        return None
    before = len(problems)
    topic = raw.get("topic")
    if not isinstance(topic, str) or not topic.strip():
        problems.append(RuleProblem(name, "topic", "must be a non-empty string"))
        topic = "?"
    skills = _parse_skills(name, raw.get("skills", {}), problems)
    authority, computed = _parse_authority(name, raw.get("authority", {}), problems)
    priority = raw.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 9:
        problems.append(RuleProblem(name, "priority", "must be an integer from 0 to 9"))
        priority = 0
    unknown = set(raw) - {"name", "topic", "skills", "authority", "priority"}
    # YAML keys may be numbers, dates or null beside strings: sort by their text.
    for key in sorted(unknown, key=str):
        problems.append(RuleProblem(name, str(key), "unknown field"))
    if len(problems) > before:
        return None
    return TopicRule(name, topic, skills, authority, computed, priority)


def _parse_skills(rule: str, raw: Any, problems: list[RuleProblem]) -> tuple[tuple[str, int], ...]:
    if not isinstance(raw, Mapping):
        problems.append(RuleProblem(rule, "skills", "must map skill to minimum proficiency"))
        return ()
    skills: list[tuple[str, int]] = []
    for skill, level in raw.items():
        if not isinstance(level, int) or not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY:
            problems.append(
                RuleProblem(
                    rule,
                    f"skills.{skill}",
                    f"proficiency must be {MIN_PROFICIENCY}..{MAX_PROFICIENCY}",
                )
            )
            continue
        skills.append((str(skill), level))
    return tuple(sorted(skills))


def _parse_authority(
    rule: str, raw: Any, problems: list[RuleProblem]
) -> tuple[tuple[AuthorityNeed, ...], dict[str, str]]:
    """`refund_limit: 150`, `can_waive_fees: true` or `refund_limit: {attribute: order_value}`."""
    if not isinstance(raw, Mapping):
        problems.append(RuleProblem(rule, "authority", "must map authority name to a value"))
        return (), {}
    needs: list[AuthorityNeed] = []
    computed: dict[str, str] = {}
    for name, spec in raw.items():
        where = f"authority.{name}"
        if isinstance(spec, bool):
            if spec:
                needs.append(AuthorityNeed(str(name), must_be_true=True))
        elif isinstance(spec, int | float):
            needs.append(AuthorityNeed(str(name), at_least=float(spec)))
        elif isinstance(spec, Mapping) and isinstance(spec.get("attribute"), str):
            computed[str(name)] = spec["attribute"]
            floor = spec.get("at_least")
            if floor is not None:
                if not isinstance(floor, int | float) or isinstance(floor, bool):
                    problems.append(RuleProblem(rule, f"{where}.at_least", "must be a number"))
                    continue
                needs.append(AuthorityNeed(str(name), at_least=float(floor)))
        else:
            problems.append(
                RuleProblem(rule, where, "must be a number, true, or {attribute: NAME}")
            )
    return tuple(needs), computed
