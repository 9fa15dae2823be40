"""`ticketrouter rules validate` and `ticketrouter rules replay`, as run from a shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from tests.builders import RULES_FILE, agent, event_json
from ticketrouter.bootstrap import bootstrap
from ticketrouter.config import Settings

DRAFT = (
    RULES_FILE.read_text(encoding="utf-8")
    .replace("skills: {billing: 3}", "skills: {billing: 2}")
    .replace("    priority: 2\n", "    priority: 1\n")
)


def run(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TICKETROUTER_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "ticketrouter.entrypoints.cli", "rules", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_validate_lists_every_problem_one_per_line(tmp_path: Path) -> None:
    broken = tmp_path / "draft.yaml"
    broken.write_text(
        "skills: [billing]\nrules:\n"
        "  - {name: vip, when: 'customer.age > 60'}\n"
        "  - {name: default, priority: 12}\n"
    )
    result = run("validate", str(broken), database_url=f"sqlite:///{tmp_path}/none.db")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{broken}: rule 'vip', field 'when': unknown field customer.age "
        "(customer has: is_new, language, last_csat, open_cases, previous_cases, tier)",
        f"{broken}: rule 'default', field 'priority': must be an integer from 0 to 9",
    ]
    valid = run("validate", str(RULES_FILE), database_url=f"sqlite:///{tmp_path}/none.db")
    assert valid.returncode == 0
    assert "valid, 7 rules" in valid.stdout


def test_validate_warns_of_a_rule_that_can_never_match(tmp_path: Path) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text(
        "skills: [billing]\nrules:\n"
        "  - {name: bulk, when: 'contact.attributes.count + 1 > 3'}\n"
        "  - {name: default}\n"
    )
    url = f"sqlite:///{tmp_path}/none.db"
    result = run("validate", str(draft), database_url=url)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f"{draft}: warning: rule 'bulk', field 'when': the rule can never match: "
        "`contact.attributes.count + 1` fails for every contact: numbers in "
        "contact.attributes are doubles and CEL has no + of an int and a double; "
        "write 1.0 for 1, or int(contact.attributes.count)"
    ]
    assert result.stdout.strip().endswith("reads the contact only; 1 warning")
    strict = run("validate", "--strict", str(draft), database_url=url)
    assert strict.returncode == 1
    assert strict.stderr == result.stderr


def test_replay_of_recorded_contacts_shows_what_the_draft_changes(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/router.db"
    app = bootstrap(Settings(database_url=database_url, rules_file=RULES_FILE), CollectorRegistry())
    with app.uow() as uow:  # the roster the unroutable prediction judges by
        uow.repo.upsert_agent(agent("bill", {"billing": 2}, {"refund_limit": 1000}))
        uow.repo.upsert_agent(agent("gina", {"general": 1}))
        uow.commit()
    app.close()
    events = [
        event_json(f"r{n}", [("email", f"r{n}@example.com")], topic="billing.refund",
                   attributes={"order_value": 100.0 + n})
        for n in range(3)
    ]  # fmt: skip
    events.append(event_json("t1", [("email", "t1@example.com")], topic="tech.login"))
    events.append(event_json("g1", [("email", "g1@example.com")]))
    lines = [json.dumps(e) for e in events]
    lines += ["{not json", json.dumps({**events[0], "type": "survey.completed", "csat": 4,
                                       "case_id": "c1"})]  # fmt: skip
    recorded = tmp_path / "contacts.jsonl"
    recorded.write_text("\n".join(lines) + "\n")
    draft = tmp_path / "draft.yaml"
    draft.write_text(DRAFT)

    result = run(
        "replay", "--policy", str(draft), "--from", str(recorded), database_url=database_url
    )
    assert result.returncode == 0, result.stderr
    report = result.stdout
    assert (
        f"Replayed 7 events from {recorded}: 5 contacts, 1 invalid and 1 of other types skipped."
        in report
    )
    assert "current: version 1 in force (database)" in report
    assert "billing>=3 → billing>=2" in report
    refunds = next(line for line in report.splitlines() if line.startswith("refunds "))
    assert refunds.split() == ["refunds", "3", "3"]
    assert "Requirement changes: 3 contacts" in report
    assert "2 → 1" in report
    # today nobody holds billing>=3; the draft makes refunds routable; tech stays unroutable
    assert "current: 4 contacts (refunds 3, technical 1)" in report
    assert "draft:   1 contacts (technical 1)" in report
    assert "replay: 7/7 events" in result.stderr  # progress, as lines when not a terminal


def test_replay_names_bad_input(tmp_path: Path) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text(DRAFT)
    url = f"sqlite:///{tmp_path}/none.db"
    result = run("replay", "--policy", str(draft), "--from", "no-such-topic", database_url=url)
    assert result.returncode == 2
    assert "is not a file, and no Kafka bootstrap servers are configured" in result.stderr
    assert not (tmp_path / "none.db").exists()  # a replay creates nothing
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: []\n")
    result = run("replay", "--policy", str(broken), "--from", str(draft), database_url=url)
    assert result.returncode == 1
    assert "rule '-', field 'rules': must be a non-empty list of rules" in result.stderr
