"""Build a Policy from plain data (a parsed YAML document). Every problem is reported
at once, each naming the rule, the field and the reason."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from ticketrouter.cel import Expression, ExpressionError, compile_expression
from ticketrouter.domain.plan import Step, Strategy
from ticketrouter.domain.policy import (
    ComputedAuthority,
    LanguageRule,
    Policy,
    PolicyRule,
)
from ticketrouter.domain.policy import (
    RuleProblem as RuleProblem,
)
from ticketrouter.domain.requirements import MAX_PROFICIENCY, MIN_PROFICIENCY, AuthorityNeed

DOCUMENT_FIELDS = ("skills", "rules")
RULE_FIELDS = (
    "name",
    "description",
    "when",
    "skills",
    "authority",
    "language",
    "teams",
    "priority",
    "strategy",
    "prefer_relationship",
    "steps",
)
STEP_FIELDS = ("after_seconds", "proficiency", "allow_teams", "drop_language")
MAX_RULES = 500
MAX_STEPS = 10
MAX_NAME_CHARS = 64
# A policy's text, in UTF-8. Every version is kept and listed with its diff, parsed by
# every router process, and validated while that process serves: 256 KiB holds 500
# rules of a few hundred characters each, validates in a fraction of a second, and
# lets a version and its diff travel in one gRPC message (4 MiB) many times over.
MAX_POLICY_BYTES = 256 * 1024
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_ANY_LANGUAGE = "any"


class InvalidPolicy(ValueError):
    def __init__(self, problems: list[RuleProblem], warnings: tuple[RuleProblem, ...] = ()) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems
        self.warnings = warnings  # found beside the problems, reported with them


@dataclass
class _Rule:
    """What the reachability check needs, even of a rule with other problems."""

    label: str
    condition: Expression | None
    condition_ok: bool
    rule: PolicyRule | None


@dataclass
class _Problems:
    found: list[RuleProblem] = field(default_factory=list)
    warnings: list[RuleProblem] = field(default_factory=list)

    def add(self, rule: str, where: str, reason: str) -> None:
        self.found.append(RuleProblem(rule, where, reason))

    def warn(
        self, rule: str, where: str, expression: Expression, consequence: str, doomed: bool
    ) -> None:
        """Arithmetic in `expression` that fails for every contact: a warning, not a
        problem, since versions applied before this check must still load. `doomed`:
        the whole expression is of no use, which `consequence` says."""
        for hazard in expression.kinds.hazards:
            reason = f"`{hazard.part}` fails for every contact: {hazard.reason}"
            if doomed:
                reason = f"{consequence}: {reason}"
            self.warnings.append(RuleProblem(rule, where, reason))


def check_policy_size(text: str) -> None:
    """Refuse a policy text over MAX_POLICY_BYTES, before anything parses it."""
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_POLICY_BYTES:
        raise InvalidPolicy([RuleProblem("-", "-", policy_size_problem(size))])


def policy_size_problem(size: int) -> str:
    return (
        f"the policy is {size:,} bytes, more than the limit of {MAX_POLICY_BYTES:,} bytes "
        f"({MAX_POLICY_BYTES // 1024} KiB): split long `in` lists or merge rules"
    )


def parse_policy(document: Any, version: int = 0) -> Policy:
    """Validate the whole document; raises InvalidPolicy listing every problem."""
    problems = _Problems()
    if not isinstance(document, Mapping):
        raise InvalidPolicy(
            [RuleProblem("-", "-", "the document must be a mapping with `skills` and `rules`")]
        )
    for key in sorted(set(document) - set(DOCUMENT_FIELDS), key=str):
        reason = (
            "versions are numbered when a policy is applied: remove it"
            if key == "version"
            else "unknown field"
        )
        problems.add("-", str(key), reason)
    catalog = _catalog(document.get("skills"), problems)
    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        problems.add("-", "rules", "must be a non-empty list of rules")
        raise InvalidPolicy(problems.found)
    if len(raw_rules) > MAX_RULES:
        problems.add("-", "rules", f"more than {MAX_RULES} rules")
        raise InvalidPolicy(problems.found)
    parsed = [_rule(index, raw, catalog, problems) for index, raw in enumerate(raw_rules)]
    _check_names(parsed, problems)
    _check_reachability(parsed, problems)
    if problems.found:
        raise InvalidPolicy(problems.found, tuple(problems.warnings))
    rules = tuple(p.rule for p in parsed if p.rule is not None)
    needs_customer = any("customer" in e.variables for r in rules for e in _expressions(r))
    return Policy(rules, tuple(sorted(catalog)), version, needs_customer, tuple(problems.warnings))


def _expressions(rule: PolicyRule) -> list[Expression]:
    found = [c.expression for c in rule.computed_authority]
    return [rule.condition, *found] if rule.condition is not None else found


def _catalog(raw: Any, problems: _Problems) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or not all(isinstance(s, str) and s.strip() for s in raw):
        problems.add("-", "skills", "must list the skill names the rules may use")
        listed = raw if isinstance(raw, list) else []
        return frozenset(s for s in listed if isinstance(s, str))
    seen: set[str] = set()
    for skill in raw:
        if skill in seen:
            problems.add("-", "skills", f"{skill!r} is listed twice")
        seen.add(skill)
    return frozenset(seen)


def _rule(index: int, raw: Any, catalog: frozenset[str], problems: _Problems) -> _Rule:
    label = f"#{index + 1}"
    if not isinstance(raw, Mapping):
        problems.add(label, "-", "a rule must be a mapping")
        return _Rule(label, None, False, None)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add(label, "name", "must be a non-empty string")
    elif len(name) > MAX_NAME_CHARS:
        problems.add(label, "name", f"longer than {MAX_NAME_CHARS} characters")
    else:
        label = name
    before = len(problems.found)
    for key in sorted(set(raw) - set(RULE_FIELDS), key=str):
        problems.add(label, str(key), "unknown field")
    condition, condition_ok = _condition(label, raw.get("when"), problems)
    skills = _skills(label, raw.get("skills", {}), catalog, problems)
    authority, computed = _authority(label, raw.get("authority", {}), problems)
    language_rule, language = _language(label, raw.get("language"), problems)
    teams = _teams(label, "teams", raw.get("teams", []), problems)
    priority = raw.get("priority", 0)
    if not _is_int(priority) or not 0 <= priority <= 9:
        problems.add(label, "priority", "must be an integer from 0 to 9")
    strategy = _strategy(label, raw.get("strategy", Strategy.LEAST_OCCUPIED.value), problems)
    prefer = raw.get("prefer_relationship", True)
    if not isinstance(prefer, bool):
        problems.add(label, "prefer_relationship", "must be true or false")
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.add(label, "description", "must be text")
    steps = _steps(label, raw.get("steps", []), bool(teams), problems)
    if len(problems.found) > before or label != name:
        return _Rule(label, condition, condition_ok, None)
    rule = PolicyRule(
        name=label,
        condition=condition,
        skills=skills,
        authority=authority,
        computed_authority=computed,
        language_rule=language_rule,
        language=language,
        teams=teams,
        priority=priority,
        strategy=strategy,
        prefer_relationship=prefer,
        steps=steps,
        description=description,
    )
    return _Rule(label, condition, condition_ok, rule)


def _condition(label: str, raw: Any, problems: _Problems) -> tuple[Expression | None, bool]:
    if raw is None or raw is True:  # no `when`, or YAML's bare `true`: every contact
        return None, True
    if not isinstance(raw, str):
        problems.add(label, "when", 'must be a CEL condition (text), e.g. contact.topic == "x"')
        return None, False
    try:
        condition = compile_expression(raw)
    except ExpressionError as err:
        problems.add(label, "when", str(err))
        return None, False
    if condition.is_constant:
        if type(condition.constant) is not bool:
            problems.add(label, "when", f"must give true or false, not {condition.constant!r}")
            return None, False
        if condition.constant is False:
            problems.add(label, "when", "unreachable: the condition is always false")
            return None, False
    never = condition.kinds.never_true
    problems.warn(label, "when", condition, "the rule can never match", never)
    return condition, True


def _skills(
    label: str, raw: Any, catalog: frozenset[str], problems: _Problems
) -> tuple[tuple[str, int], ...]:
    if not isinstance(raw, Mapping):
        problems.add(label, "skills", "must map skill to minimum proficiency, e.g. {billing: 3}")
        return ()
    skills: list[tuple[str, int]] = []
    for skill, level in raw.items():
        where = f"skills.{skill}"
        if not isinstance(skill, str) or skill not in catalog:
            known = _some(sorted(catalog)) or "none listed"
            problems.add(label, where, f"unknown skill: not in the skills catalog ({known})")
            continue
        if not _is_int(level) or not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY:
            problems.add(label, where, f"proficiency must be {MIN_PROFICIENCY}..{MAX_PROFICIENCY}")
            continue
        skills.append((skill, level))
    return tuple(sorted(skills))


def _authority(
    label: str, raw: Any, problems: _Problems
) -> tuple[tuple[AuthorityNeed, ...], tuple[ComputedAuthority, ...]]:
    """`refund_limit: 150`, `can_waive_fees: true`, or a CEL expression giving a
    number, e.g. `refund_limit: "max(50.0, double(contact.attributes.order_value))"`."""
    if not isinstance(raw, Mapping):
        problems.add(label, "authority", "must map authority name to a value")
        return (), ()
    needs: list[AuthorityNeed] = []
    computed: list[ComputedAuthority] = []
    for name, spec in raw.items():
        where = f"authority.{name}"
        if not isinstance(name, str) or not name.strip():
            problems.add(label, where, "an authority needs a name")
        elif spec is True:
            needs.append(AuthorityNeed(name, must_be_true=True))
        elif spec is False:
            problems.add(label, where, "false requires nothing: remove it")
        elif _is_number(spec):
            needs.append(AuthorityNeed(name, at_least=float(spec)))
        elif isinstance(spec, str):
            try:
                expression = compile_expression(spec)
            except ExpressionError as err:
                problems.add(label, where, str(err))
                continue
            if expression.is_constant:
                if not _is_number(expression.constant):
                    problems.add(label, where, "must give a number")
                    continue
                needs.append(AuthorityNeed(name, at_least=float(expression.constant)))  # type: ignore[arg-type]
            else:
                fallback = "always falls back to no minimum amount"
                never = expression.kinds.never_succeeds
                problems.warn(label, where, expression, fallback, never)
                computed.append(ComputedAuthority(name, expression))
        else:
            problems.add(
                label, where, "must be a number, true, or a CEL expression giving a number"
            )
    return tuple(needs), tuple(computed)


def _language(label: str, raw: Any, problems: _Problems) -> tuple[LanguageRule, str | None]:
    if raw is None:
        return LanguageRule.CONTACT, None
    if raw == _ANY_LANGUAGE:
        return LanguageRule.ANY, None
    if isinstance(raw, str) and _LANGUAGE.match(raw):
        return LanguageRule.FIXED, raw
    problems.add(
        label, "language", "must be a language code such as en, or any (omit it: the contact's)"
    )
    return LanguageRule.CONTACT, None


def _teams(label: str, where: str, raw: Any, problems: _Problems) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(t, str) and t.strip() for t in raw):
        problems.add(label, where, "must be a list of team names")
        return frozenset()
    return frozenset(raw)


def _strategy(label: str, raw: Any, problems: _Problems) -> Strategy:
    try:
        return Strategy(raw)
    except (ValueError, TypeError):
        choices = ", ".join(s.value for s in Strategy)
        problems.add(label, "strategy", f"must be one of {choices}")
        return Strategy.LEAST_OCCUPIED


def _steps(label: str, raw: Any, has_teams: bool, problems: _Problems) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        problems.add(label, "steps", "must be a list of steps")
        return ()
    if len(raw) > MAX_STEPS:
        problems.add(label, "steps", f"more than {MAX_STEPS} steps")
        return ()
    steps: list[Step] = []
    previous = 0.0
    for index, item in enumerate(raw):
        where = f"steps[{index}]"
        if not isinstance(item, Mapping):
            problems.add(label, where, "a step must be a mapping")
            continue
        before = len(problems.found)
        for key in sorted(set(item) - set(STEP_FIELDS), key=str):
            problems.add(label, f"{where}.{key}", "unknown field")
        after = item.get("after_seconds")
        if not _is_number(after) or after <= 0:
            problems.add(label, f"{where}.after_seconds", "must be a number of seconds above 0")
        elif after <= previous:
            problems.add(
                label, f"{where}.after_seconds", "must come after the previous step's time"
            )
        else:
            previous = float(after)
        delta = item.get("proficiency", 0)
        if not _is_int(delta) or not MIN_PROFICIENCY - MAX_PROFICIENCY <= delta <= 0:
            problems.add(
                label,
                f"{where}.proficiency",
                f"must be 0 or a negative change (down to {MIN_PROFICIENCY - MAX_PROFICIENCY})",
            )
        teams = _teams(label, f"{where}.allow_teams", item.get("allow_teams", []), problems)
        if teams and not has_teams:
            problems.add(
                label, f"{where}.allow_teams", "the rule sets no teams: any team already qualifies"
            )
        drop = item.get("drop_language", False)
        if not isinstance(drop, bool):
            problems.add(label, f"{where}.drop_language", "must be true or false")
        if len(problems.found) > before:
            continue
        if delta == 0 and not teams and not drop:
            problems.add(
                label, where, "relaxes nothing: set proficiency, allow_teams or drop_language"
            )
            continue
        assert _is_number(after)  # checked above, with its own problem
        steps.append(Step(float(after), delta, teams, drop))
    return tuple(steps)


def _check_names(parsed: list[_Rule], problems: _Problems) -> None:
    first: dict[str, int] = {}
    for index, item in enumerate(parsed):
        if item.label.startswith("#"):
            continue
        if item.label in first:
            problems.add(item.label, "name", f"rule #{first[item.label] + 1} has the same name")
        else:
            first[item.label] = index


def _check_reachability(parsed: list[_Rule], problems: _Problems) -> None:
    """First match wins: nothing after a rule that always holds can match, and a rule
    whose condition repeats an earlier one never does."""
    catch_all: str | None = None
    conditions: dict[Any, str] = {}
    for item in parsed:
        if not item.condition_ok:
            continue
        always = item.condition is None or item.condition.constant is True
        if catch_all is not None:
            problems.add(
                item.label, "when", f"unreachable: {catch_all!r} before it matches every contact"
            )
        elif item.condition is not None and item.condition.shape in conditions:
            problems.add(
                item.label,
                "when",
                f"unreachable: {conditions[item.condition.shape]!r} has the same condition",
            )
        if always and catch_all is None:
            catch_all = item.label
        if item.condition is not None:
            conditions.setdefault(item.condition.shape, item.label)
    last = parsed[-1]
    if last.condition_ok and not (last.condition is None or last.condition.constant is True):
        problems.add(
            last.label,
            "when",
            'the last rule must be the default: no `when` (or `when: "true"`), '
            "so that every contact gets a plan",
        )


def _some(names: list[str], shown: int = 20) -> str:
    """A list for a message. Each unknown skill names the catalog: all of a long one,
    for each of many unknown skills, would make the problems grow with their product."""
    if len(names) <= shown:
        return ", ".join(names)
    return ", ".join(names[:shown]) + f", ... ({len(names) - shown} more)"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) < 1e15
    )
