"""A large, valid, realistic routing policy, and what it decides computed in plain
Python: conditions over several fields with `in` lists, a customer test, an attribute
threshold, computed authority, skills, teams and routing steps."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ticketrouter.domain.plan import ContactFacts

CHANNELS = ("email", "chat", "voice", "sms", "web")
TIERS = ("gold", "platinum", "silver", None)
SKILLS = tuple(f"skill_{n}" for n in range(40))


@dataclass(frozen=True, slots=True)
class BigRule:
    name: str
    topics: tuple[str, ...]
    channels: tuple[str, ...]
    open_cases_above: int
    order_value_at_least: float

    def holds(self, facts: ContactFacts) -> bool:
        value = facts.attributes.get("order_value")
        return (
            facts.topic in self.topics
            and facts.channel in self.channels
            and (
                facts.customer_tier in ("gold", "platinum")
                or facts.open_cases > self.open_cases_above
            )
            and isinstance(value, float)
            and value >= self.order_value_at_least
        )

    def refund_limit(self, facts: ContactFacts) -> float:
        value = facts.attributes.get("order_value")
        floor = float(self.order_value_at_least)
        return max(floor, value) if isinstance(value, float) else floor


@dataclass(frozen=True, slots=True)
class BigPolicy:
    text: str
    rules: tuple[BigRule, ...]

    def expected(self, facts: ContactFacts) -> tuple[str, float | None]:
        """The rule that decides, and the refund limit it requires (None: the default)."""
        for rule in self.rules:
            if rule.holds(facts):
                return rule.name, rule.refund_limit(facts)
        return "default", None

    def contacts(self, count: int, seed: int = 7) -> list[ContactFacts]:
        """Contacts that hit rules all along the policy, and the default."""
        rng = random.Random(seed)
        topics = [*sorted({t for r in self.rules for t in r.topics}), "other.question"]
        found: list[ContactFacts] = []
        for _ in range(count):
            attributes: dict[str, object] = {}
            if rng.random() < 0.9:
                attributes["order_value"] = round(rng.uniform(0, 2 * len(self.rules)), 2)
            found.append(
                ContactFacts(
                    rng.choice(CHANNELS),
                    rng.choice(topics),
                    "en",
                    attributes=attributes,
                    customer_tier=rng.choice(TIERS),
                    open_cases=rng.randrange(5),
                )
            )
        return found


def big_policy(rules: int = 450, topics_per_rule: int = 5) -> BigPolicy:
    """`rules` rules and a default. 450 rules of 5 topics each come to just under
    MAX_POLICY_BYTES (256 KiB); of 150 topics each, to about 1 MB."""
    lines = [f"skills: [{', '.join(SKILLS)}]", "rules:"]
    made: list[BigRule] = []
    for n in range(rules):
        area = f"a{n % 37}"
        rule = BigRule(
            name=f"r{n:04d}",
            topics=tuple(f"{area}.k{k}" for k in range(n % 5, n % 5 + topics_per_rule)),
            channels=CHANNELS[: 1 + n % 5],
            open_cases_above=n % 4,
            order_value_at_least=float(n),
        )
        made.append(rule)
        topics = ", ".join(f'"{t}"' for t in rule.topics)
        channels = ", ".join(f'"{c}"' for c in rule.channels)
        condition = (
            f"contact.topic in [{topics}] && contact.channel in [{channels}]"
            f' && (customer.tier in ["gold", "platinum"]'
            f" || customer.open_cases > {rule.open_cases_above})"
            f" && has(contact.attributes.order_value)"
            f" && double(contact.attributes.order_value) >= {rule.order_value_at_least}"
        )
        first, second = SKILLS[n % 40], SKILLS[(n * 7 + 1) % 40]
        lines += [
            f"  - name: {rule.name}",
            f"    when: '{condition}'",
            f"    skills: {{{first}: {1 + n % 5}, {second}: {1 + n % 3}}}",
            "    authority:",
            f"      refund_limit: 'max({rule.order_value_at_least}, "
            "double(contact.attributes.order_value))'",
            "      can_waive_fees: true",
            f"    priority: {n % 10}",
            f"    teams: [team-{n % 7}, team-{(n + 3) % 7}]",
            "    steps: [{after_seconds: 300, allow_teams: [overflow], drop_language: true}]",
        ]
    lines += ["  - name: default", f"    skills: {{{SKILLS[0]}: 1}}"]
    return BigPolicy("\n".join(lines) + "\n", tuple(made))
