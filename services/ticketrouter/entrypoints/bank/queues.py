"""The bank's queues as routing rules: one per service type and priority class.

The bank's switch served identified customers before unidentified ones (priority 2
before 1 before 0), so each class of each service type is a rule of its own with
that priority, named `ps-high`, `ps-regular`, `ps-unidentified`, ... A service type's
figures are its rules' figures added up.
"""

from __future__ import annotations

PRIORITY_CLASSES = {0: "unidentified", 1: "regular", 2: "high"}
# The order the comparison lists them in: by volume, as the data's documentation does.
SERVICE_ORDER = ("PS", "NW", "IN", "NE", "TT", "PE")


def rule_name(service: str, priority: int) -> str:
    return f"{service.lower()}-{PRIORITY_CLASSES.get(priority, 'unidentified')}"


def topic_of(service: str) -> str:
    """The contract's topics are lower-case dotted words: `bank.ps`, `bank.nw`, ..."""
    return f"bank.{service.lower()}"


def service_of_rule(rule: str) -> str:
    return rule.split("-", 1)[0].upper()


def services_in_order(services: set[str]) -> list[str]:
    known = [s for s in SERVICE_ORDER if s in services]
    return known + sorted(services - set(known))
