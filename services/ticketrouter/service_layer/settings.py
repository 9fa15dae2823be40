"""Routing settings the handlers need: the policy version in force, the FCR window, the
identity policy and the size of context packets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from ticketrouter.domain.channels import Channel
from ticketrouter.domain.context import ContextLimits
from ticketrouter.domain.merging import IdentityPolicy
from ticketrouter.domain.plan import RoutingPolicy

# How many waiting cases an agent who frees capacity looks at (queue order).
PULL_WINDOW = 200
# An agent pulls at most this many cases in one go (bounded loop, never unbounded).
MAX_PULLS = 50


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    policy: RoutingPolicy
    fcr_window: timedelta = timedelta(days=7)
    # Waiting raises a case's rank by this many priority levels a minute (0: never).
    aging_per_minute: float = 0.0
    # An assignment is an offer the agent must accept within this time (0: assigned
    # at once, as when agents auto-accept).
    offer_timeout: timedelta = timedelta(0)
    # Offers let lapse in a row before the agent is set away.
    max_missed_offers: int = 3
    # After a case's last contact ends its owner keeps the slot on that channel this
    # long, for the after-call work (a channel not named: freed at once).
    wrap_up: Mapping[Channel, timedelta] = field(default_factory=dict)
    identities: IdentityPolicy = field(default_factory=IdentityPolicy)
    context: ContextLimits = field(default_factory=ContextLimits)
