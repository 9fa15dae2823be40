"""A new routing policy version takes effect in the running router without a restart,
whichever process applied it, and every decision says which version made it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.builders import RULES_FILE, event_json
from tests.e2e.conftest import Service, read_topic, wait_until
from ticketrouter.adapters.database import connect
from ticketrouter.adapters.policy_store import SqlPolicyVersions
from ticketrouter.adapters.rules_file import parse_policy_text
from ticketrouter.service_layer.policies import apply_policy
from ticketrouter.v1 import config_pb2, config_pb2_grpc

SOURCE = RULES_FILE.read_text(encoding="utf-8")


def renamed(name: str) -> str:
    return SOURCE.replace("  - name: billing\n", f"  - name: {name}\n")


def test_applying_a_version_changes_the_running_workers_decisions(service: Service) -> None:
    service.add_agent("gen", {"billing": 3, "general": 2}, capacity={"email": 10})
    config = config_pb2_grpc.RoutingConfigServiceStub(service.channel)  # type: ignore[no-untyped-call]

    def contact(number: int) -> None:
        email = ("email", f"customer{number}@example.com")
        service.publish(event_json(f"e{number}", [email], topic="billing.invoice"))
        service.wait_processed(number)

    contact(1)
    applied = config.ApplyPolicy(
        config_pb2.ApplyPolicyRequest(source=renamed("invoices"), author="ops@example.com")
    )
    assert applied.version == 2
    contact(2)

    # Another replica applies version 3 straight to the shared database: this
    # process notices on its own, within about a second.
    database = connect(service.settings.database_url)
    try:
        apply_policy(
            SqlPolicyVersions(database),
            parse_policy_text,
            renamed("billing-v3"),
            "replica@example.com",
            datetime.now(UTC),
        )
    finally:
        database.dispose()
    app = service.runtime.app
    wait_until(lambda: app.routing.policy.version == 3, 10, "version 3 in force")
    contact(3)

    records = read_topic(service.settings.kafka_bootstrap, service.settings.decisions_topic, 3)
    decisions = {
        d["event_id"]: (d["explanation"]["rule"], d["explanation"]["policy_version"])
        for d in (json.loads(r.value) for r in records)
    }
    assert decisions == {"e1": ("billing", 1), "e2": ("invoices", 2), "e3": ("billing-v3", 3)}
    active = config.GetActivePolicy(config_pb2.GetActivePolicyRequest())
    assert (active.version, active.author) == (3, "replica@example.com")
