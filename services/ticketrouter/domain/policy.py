"""A routing policy version: ordered rules whose CEL conditions look at the contact
and the customer; the first rule that holds decides the plan (requirements, priority,
strategy, routing steps). Every expression is compiled when the policy is parsed,
so evaluating a contact compiles nothing."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

from ticketrouter.cel import Activation, EvaluationError, Expression
from ticketrouter.domain.plan import ContactFacts, Plan, Step, Strategy
from ticketrouter.domain.requirements import AuthorityNeed, Requirements

# A policy must never stop routing for everyone because one contact carries an
# attribute of an unexpected shape: any failure of one expression counts as an error.
_EXPRESSION_FAILURES = (
    EvaluationError,
    ArithmeticError,
    LookupError,
    RecursionError,
    TypeError,
    ValueError,
)


class LanguageRule(StrEnum):
    CONTACT = "contact"  # the contact's language (the default)
    ANY = "any"  # no language requirement
    FIXED = "fixed"  # the rule names one


@dataclass(frozen=True, slots=True)
class ComputedAuthority:
    """An authority limit computed per contact, e.g. the refund limit from the order
    value. When the expression fails for a contact (a missing attribute), the agent
    must still hold the authority, with no minimum amount."""

    name: str
    expression: Expression

    def need(self, activation: Activation) -> tuple[AuthorityNeed, str]:
        """The need, and why it fell back ("" when it did not)."""
        try:
            amount = self.expression.evaluate(activation)
        except _EXPRESSION_FAILURES as err:
            return AuthorityNeed(self.name), str(err) or type(err).__name__
        if type(amount) in (int, float) and math.isfinite(amount):  # type: ignore[arg-type]
            return AuthorityNeed(self.name, at_least=float(amount)), ""  # type: ignore[arg-type]
        return AuthorityNeed(self.name), f"not a number: {amount!r}"[:200]


@dataclass(frozen=True, slots=True)
class PolicyRule:
    name: str
    condition: Expression | None = None  # None: every contact (the default rule)
    skills: tuple[tuple[str, int], ...] = ()
    authority: tuple[AuthorityNeed, ...] = ()
    computed_authority: tuple[ComputedAuthority, ...] = ()
    language_rule: LanguageRule = LanguageRule.CONTACT
    language: str | None = None  # with LanguageRule.FIXED
    teams: frozenset[str] = frozenset()
    priority: int = 0
    strategy: Strategy = Strategy.LEAST_OCCUPIED
    prefer_relationship: bool = True
    steps: tuple[Step, ...] = ()
    description: str = ""

    @property
    def always(self) -> bool:
        return self.condition is None or (
            self.condition.is_constant and self.condition.constant is True
        )

    def check(self, activation: Activation) -> tuple[bool, str]:
        """Whether the rule holds, and the evaluation error when it could not tell."""
        if self.condition is None:
            return True, ""
        try:
            result = self.condition.evaluate(activation)
        except _EXPRESSION_FAILURES as err:
            return False, str(err) or type(err).__name__
        if type(result) is not bool:
            return False, f"the condition gave {result!r}, not true or false"[:200]
        return result, ""

    def requirements(self, facts: ContactFacts, activation: Activation) -> Requirements:
        needs = list(self.authority)
        needs += [computed.need(activation)[0] for computed in self.computed_authority]
        if self.language_rule is LanguageRule.CONTACT:
            language = facts.language or None
        else:
            language = self.language
        return Requirements(self.skills, tuple(needs), language, self.teams)

    def plan(self, facts: ContactFacts, activation: Activation, version: int) -> Plan:
        return Plan(
            rule=self.name,
            requirements=self.requirements(facts, activation),
            priority=self.priority,
            strategy=self.strategy,
            prefer_relationship=self.prefer_relationship,
            steps=self.steps,
            policy_version=version,
        )


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """A problem (the policy is refused) or a warning (it is not) about one field."""

    rule: str  # the rule's name, "#N" when it has none, "-" for the document
    field: str
    reason: str

    def __str__(self) -> str:
        return f"rule {self.rule!r}, field {self.field!r}: {self.reason}"


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """How one rule fared for one contact (dry runs explain themselves with these)."""

    rule: str
    matched: bool
    error: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    """Implements `plan.RoutingPolicy`. Built by `policy_document.parse_policy`, which
    guarantees that the last rule matches every contact."""

    rules: tuple[PolicyRule, ...]
    skills: tuple[str, ...] = ()
    version: int = 0  # 0: a draft; the version store numbers applied policies
    needs_customer: bool = False
    # What validation found that does not refuse the policy, e.g. a rule that can
    # never match because it adds an int to an attribute (a double).
    warnings: tuple[RuleProblem, ...] = ()

    @property
    def rule_names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.rules)

    def rule(self, name: str) -> PolicyRule | None:
        return next((r for r in self.rules if r.name == name), None)

    def with_version(self, version: int) -> Policy:
        return replace(self, version=version)

    def plan_for(self, facts: ContactFacts) -> Plan:
        activation = activation_for(facts)
        for rule in self.rules:
            if rule.check(activation)[0]:
                return rule.plan(facts, activation, self.version)
        raise AssertionError("a validated policy ends with a rule that always holds")

    def explain(self, facts: ContactFacts) -> tuple[Plan, tuple[RuleCheck, ...]]:
        """The plan, and every rule tried before it with its outcome."""
        activation = activation_for(facts)
        checks: list[RuleCheck] = []
        for rule in self.rules:
            matched, error = rule.check(activation)
            checks.append(RuleCheck(rule.name, matched, error))
            if matched:
                return rule.plan(facts, activation, self.version), tuple(checks)
        raise AssertionError("a validated policy ends with a rule that always holds")


def activation_for(facts: ContactFacts) -> dict[str, object]:
    """What `contact` and `customer` mean in an expression."""
    return {
        "contact": {
            "channel": facts.channel,
            "topic": facts.topic,
            "language": facts.language,
            "subject": facts.subject,
            "attributes": facts.attributes,
        },
        "customer": {
            "tier": facts.customer_tier,
            "language": facts.customer_language,
            "open_cases": facts.open_cases,
            "previous_cases": facts.previous_cases,
            "last_csat": facts.last_csat,
            "is_new": facts.is_new_customer,
        },
    }
