"""What an agent does with a case once its handling time is up: resolve it or, now
and then, hand it off. Both go through RoutingService, as a real agent desk would."""

from __future__ import annotations

import random

from ticketrouter.entrypoints.demo.console import Directory, event_lines, say
from ticketrouter.entrypoints.demo.stats import Stats
from ticketrouter.entrypoints.demo.stubs import RPC_TIMEOUT_S, RoutingStub
from ticketrouter.v1 import routing_pb2

# The share of cases an agent hands on rather than resolves. Contact centers report
# transfer rates of roughly 5-20% of contacts, under 10% where routing matches skills
# well; a router that sends each case to an agent empowered to resolve it should sit at
# the good end. 8% keeps the handoff rate well under TicketrouterHandoffRateHigh's 25%.
TRANSFER_SHARE = 0.08
TRANSFER_REASONS = ("missing_skill", "missing_authority", "escalation", "customer_request")

_RESOLUTION_CODES = {
    "billing.refund": "refund_issued",
    "billing.fees": "fee_waived",
    "billing": "billing_corrected",
    "orders": "order_fixed",
    "tech": "fixed_with_customer",
    "account.security": "account_unlocked",
}


def resolution_code(topic: str) -> str:
    return _RESOLUTION_CODES.get(topic) or _RESOLUTION_CODES.get(topic.split(".")[0], "answered")


class CaseWork:
    """Closes one case for its agent and prints what happened; RPC errors propagate
    so the caller decides which of them matter."""

    def __init__(
        self, routing: RoutingStub, stats: Stats, directory: Directory, rng: random.Random
    ) -> None:
        self._routing = routing
        self._stats = stats
        self._directory = directory
        self._rng = rng

    def finish(self, case_id: str, agent_id: str, topic: str) -> None:
        if self._rng.random() < TRANSFER_SHARE:
            self._transfer(case_id, agent_id)
        else:
            self._resolve(case_id, agent_id, topic)

    def _resolve(self, case_id: str, agent_id: str, topic: str) -> None:
        case = self._routing.Resolve(
            routing_pb2.ResolveRequest(case_id=case_id, resolution_code=resolution_code(topic)),
            timeout=RPC_TIMEOUT_S,
        )
        self._stats.resolution(case.case_id, case.first_contact_resolved)
        fcr = ", first-contact resolution" if case.first_contact_resolved else ""
        who = self._directory.who(case.customer_id)
        detail = f"{case.resolution_code}{fcr}"
        say(
            event_lines(
                "", who, case.topic, "resolved", f"by {agent_id}", case_id, case.customer_id, detail
            )
        )

    def _transfer(self, case_id: str, agent_id: str) -> None:
        reason = self._rng.choice(TRANSFER_REASONS)
        case = self._routing.Transfer(
            routing_pb2.TransferRequest(
                case_id=case_id,
                reason=reason,
                note=f"{agent_id}: handing over ({reason.replace('_', ' ')})",
            ),
            timeout=RPC_TIMEOUT_S,
        )
        self._stats.handoff()
        target = case.owner_agent_id or "queue"
        who = self._directory.who(case.customer_id)
        moved = f"{agent_id} -> {target}"
        say(event_lines("", who, case.topic, "handoff", moved, case_id, case.customer_id, reason))
