"""Routing settings the handlers need: the rules in force, the FCR window, the
identity policy and the size of context packets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from ticketrouter.domain.context import ContextLimits
from ticketrouter.domain.merging import IdentityPolicy
from ticketrouter.domain.requirements import RuleBook

# How many waiting cases an agent who frees capacity looks at (queue order).
PULL_WINDOW = 200
# An agent pulls at most this many cases in one go (bounded loop, never unbounded).
MAX_PULLS = 50


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    rules: RuleBook
    fcr_window: timedelta = timedelta(days=7)
    identities: IdentityPolicy = field(default_factory=IdentityPolicy)
    context: ContextLimits = field(default_factory=ContextLimits)
