"""The demo agents: who they are, what they know and may do, and how they are listed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ticketrouter.v1 import agents_pb2


def _agent(
    agent_id: str,
    name: str,
    team: str,
    skills: Mapping[str, int],
    authority: Mapping[str, float],
    languages: Sequence[str],
    chat: int,
    email: int,
) -> agents_pb2.Agent:
    capacity = {
        "voice": 1,
        "chat": chat,
        "email": email,
        "sms": 2,
        "social": 2,
        "web": 2,
        # A contact logged at a store desk still needs an agent who owns it.
        "store": 1,
    }
    return agents_pb2.Agent(
        agent_id=agent_id,
        name=name,
        team=team,
        skills=skills,
        authority=authority,
        languages=list(languages),
        presence="available",
        capacity=[agents_pb2.ChannelCapacity(channel=c, capacity=n) for c, n in capacity.items()],
    )


def demo_agents() -> list[agents_pb2.Agent]:
    """Skills and authority overlap on purpose but not completely: big refunds, fee
    waivers and account unlocks in Spanish or French each rest on two or three people,
    so some cases wait for the right agent rather than go to the wrong one, and the
    shifts never take all of them off at once."""
    # fmt: off
    return [
        _agent("ana-ruiz", "Ana Ruiz", "billing", {"billing": 5, "orders": 3, "general": 3},
               {"refund_limit": 1000, "can_waive_fees": 1.0}, ("en", "es"), chat=3, email=5),
        _agent("ben-okafor", "Ben Okafor", "billing", {"billing": 4, "general": 2},
               {"refund_limit": 250, "can_waive_fees": 1.0}, ("en",), chat=2, email=4),
        _agent("chloe-martin", "Chloé Martin", "billing",
               {"billing": 3, "orders": 2, "general": 3},
               {"refund_limit": 250}, ("en", "fr"), chat=3, email=4),
        _agent("dev-patel", "Dev Patel", "orders", {"orders": 5, "billing": 2, "general": 3},
               {"refund_limit": 100}, ("en",), chat=3, email=5),
        _agent("elena-garcia", "Elena García", "orders",
               {"orders": 4, "billing": 3, "general": 4},
               {"refund_limit": 100}, ("en", "es"), chat=3, email=5),
        _agent("farid-haddad", "Farid Haddad", "technical",
               {"technical": 5, "security": 3, "general": 2},
               {"can_unlock_account": 1.0}, ("en", "fr"), chat=2, email=4),
        _agent("grace-kim", "Grace Kim", "security",
               {"security": 5, "technical": 3, "general": 2},
               {"can_unlock_account": 1.0, "refund_limit": 100}, ("en", "es"), chat=2, email=4),
        _agent("hugo-lefevre", "Hugo Lefèvre", "care",
               {"general": 5, "billing": 3, "orders": 3, "technical": 3},
               {"refund_limit": 1000, "can_waive_fees": 1.0}, ("en", "fr"), chat=3, email=5),
        # Cover for the ones above when they are off shift (see shift.ROTATION).
        _agent("ines-duarte", "Inês Duarte", "billing", {"billing": 4, "orders": 3, "general": 3},
               {"refund_limit": 1000, "can_waive_fees": 1.0}, ("en", "es", "fr"), chat=3, email=5),
        _agent("jonas-berg", "Jonas Berg", "orders", {"orders": 4, "billing": 2, "general": 3},
               {"refund_limit": 100}, ("en",), chat=3, email=5),
        _agent("kemi-adebayo", "Kemi Adebayo", "security",
               {"security": 4, "technical": 4, "general": 3},
               {"can_unlock_account": 1.0}, ("en", "es", "fr"), chat=2, email=4),
        _agent("luis-romero", "Luis Romero", "care",
               {"general": 4, "billing": 3, "orders": 3, "technical": 2},
               {"refund_limit": 250, "can_waive_fees": 1.0}, ("en", "es"), chat=3, email=5),
    ]
    # fmt: on


def describe_agent(agent: agents_pb2.Agent) -> str:
    ranked = sorted(agent.skills.items(), key=lambda item: (-item[1], item[0]))
    skills = ", ".join(f"{skill} {level}" for skill, level in ranked)
    powers = []
    if agent.authority.get("refund_limit"):
        powers.append(f"refunds<={agent.authority['refund_limit']:g}")
    if agent.authority.get("can_waive_fees"):
        powers.append("waives fees")
    if agent.authority.get("can_unlock_account"):
        powers.append("unlocks accounts")
    return (
        f"  {agent.agent_id:<13} {agent.team:<9} {skills:<43} "
        f"{', '.join(powers) or '-':<30} {'/'.join(agent.languages)}"
    )
