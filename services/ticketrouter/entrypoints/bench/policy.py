"""Stage 3b: routing policy evaluation. A generated 50-rule CEL policy
(`contact.topic == "area7.kind" && contact.attributes.order_value > 700`) turns
contacts into plans, beside the same decisions taken by a plain dict lookup (the
ceiling of any rule engine in Python) in the same run. No I/O."""

from __future__ import annotations

import random
import time

from ticketrouter.adapters.rules_file import parse_policy_text
from ticketrouter.domain.plan import ContactFacts
from ticketrouter.entrypoints.bench.reporting import emit, say

POLICY_RULES = 50
POLICY_CONTACTS = 20_000


def generated_policy(rules: int) -> tuple[str, dict[str, tuple[float, str]]]:
    """The policy's YAML, and the same decisions as a dict: topic -> (threshold, rule)."""
    lines = ["skills: [general]", "rules:"]
    table: dict[str, tuple[float, str]] = {}
    for number in range(rules):
        topic, threshold = f"area{number}.kind", float(100 * (number % 10))
        name = f"rule-{number}"
        condition = f'contact.topic == "{topic}" && contact.attributes.order_value > {threshold}'
        lines += [
            f"  - name: {name}",
            f"    when: '{condition}'",
            "    skills: {general: 1}",
            f"    priority: {number % 10}",
        ]
        table[topic] = (threshold, name)
    lines += ["  - name: default", "    skills: {general: 1}"]
    return "\n".join(lines) + "\n", table


def bench_policy(contacts: int = POLICY_CONTACTS, rules: int = POLICY_RULES) -> None:
    say(f"policy: {contacts:,} contacts through a generated {rules}-rule CEL policy")
    source, table = generated_policy(rules)
    policy = parse_policy_text(source)
    rng = random.Random(17)
    topics = [*table, "other.question"]
    facts = [
        ContactFacts(
            "email",
            rng.choice(topics),
            "en",
            attributes={"order_value": round(rng.uniform(0, 1000), 2)},
        )
        for _ in range(contacts)
    ]
    position = {name: index + 1 for index, name in enumerate(policy.rule_names)}

    def through_dict(contact: ContactFacts) -> str:
        entry = table.get(contact.topic)
        value = contact.attributes["order_value"]
        return entry[1] if entry is not None and value > entry[0] else "default"  # type: ignore[operator]

    for contact in facts[:200]:  # warm-up, and the two must agree
        assert policy.plan_for(contact).rule == through_dict(contact)
    start = time.perf_counter()
    baseline = [through_dict(contact) for contact in facts]
    dict_rate = contacts / (time.perf_counter() - start)
    start = time.perf_counter()
    plans = [policy.plan_for(contact) for contact in facts]
    policy_rate = contacts / (time.perf_counter() - start)
    if [plan.rule for plan in plans] != baseline:
        say("policy: the CEL policy and the dict lookup disagree")
    checked = sum(position[plan.rule] for plan in plans) / contacts
    context = {"rules": rules + 1, "contacts": contacts}
    emit("policy_dict_baseline", round(dict_rate), "contacts/s", **context)
    emit(
        "policy_evaluation_rate",
        round(policy_rate),
        "contacts/s",
        mean_rules_checked=round(checked, 1),
        conditions_per_s=round(policy_rate * checked),
        ratio_to_baseline=round(policy_rate / dict_rate, 4),
        **context,
    )
