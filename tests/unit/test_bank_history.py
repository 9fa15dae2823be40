"""The bank month read into calls, the staffing it shows, and its historical figures."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ticketrouter.entrypoints.bank.calls import (
    BankFileError,
    Outcome,
    locate_bank_csv,
    read_bank_calls,
)
from ticketrouter.entrypoints.bank.convert import bank_month
from ticketrouter.entrypoints.bank.history import by_service, historical_result
from ticketrouter.entrypoints.bank.patience import kaplan_meier
from ticketrouter.entrypoints.bank.staffing import bank_agents

HEADER = (
    "vru+line,call_id,customer_id,priority,type,date,vru_entry,vru_exit,vru_time,"
    "q_start,q_exit,q_time,outcome,ser_start,ser_exit,ser_time,server\n"
)
ROWS = [
    # served straight from the VRU: offered, answered at once
    "AA01,1,0,0,PS,2010-08-01,10:00:00,10:00:10,10,0:00:00,0:00:00,0,AGENT,"
    "10:00:10,10:02:10,120,ANA",
    # waited 90 s, then served
    "AA01,2,77,2,PS,2010-08-01,10:01:00,10:01:05,5,10:01:05,10:02:35,90,AGENT,"
    "10:02:35,10:04:35,120,BEN",
    # hung up after 40 s in the queue: abandoned
    "AA01,3,0,0,NW,2010-08-01,10:05:00,10:05:05,5,10:05:05,10:05:45,40,HANG,"
    "0:00:00,0:00:00,0,NO_SERVER",
    # hung up in the VRU: never asked for an agent
    "AA01,4,0,0,PS,2010-08-01,10:06:00,10:06:20,20,0:00:00,0:00:00,0,HANG,"
    "0:00:00,0:00:00,0,NO_SERVER",
    # a phantom: ignored
    "AA01,5,0,0,PS,2010-08-01,10:07:00,10:07:05,5,10:07:05,10:08:05,60,PHANTOM,"
    "10:08:05,10:08:08,3,NO_SERVER",
    # entered before midnight, queued and served after it
    "AA01,6,0,1,NW,2010-08-01,23:59:50,0:00:05,15,0:00:05,0:00:35,30,AGENT,0:00:35,0:05:35,300,ANA",
]


def _write(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "bank.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_calls_keep_what_the_file_says_and_cross_midnight(tmp_path: Path) -> None:
    calls = read_bank_calls(_write(tmp_path, ROWS))
    assert [c.asked_for_agent for c in calls] == [True, True, True, False, False, True]
    late = calls[5]
    assert late.queued_at == datetime(2010, 8, 2, 0, 0, 5)
    assert late.served_at == datetime(2010, 8, 2, 0, 0, 35)
    assert calls[0].arrived_at == datetime(2010, 8, 1, 10, 0, 10)  # picked up at once
    assert calls[2].outcome is Outcome.HANG and calls[2].wait_seconds == 40


def test_a_file_that_is_not_the_bank_month_is_named(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(BankFileError, match="no column"):
        read_bank_calls(path)
    bad = ROWS[0].replace(",AGENT,", ",LOST,")
    with pytest.raises(BankFileError, match=r"line 2, outcome: unknown outcome 'LOST'"):
        read_bank_calls(_write(tmp_path, [bad]))


def test_historical_figures_follow_the_simulations_definitions(tmp_path: Path) -> None:
    calls = read_bank_calls(_write(tmp_path, ROWS))
    agents = bank_agents(calls)
    start = datetime(2010, 8, 1)
    result = historical_result(
        calls, agents, start, start + timedelta(days=2), timedelta(minutes=30), 60
    )
    total = result.total
    assert (total.offered, total.answered, total.abandoned) == (4, 3, 1)
    assert total.abandonment_rate == pytest.approx(0.25)
    assert total.asa_seconds == pytest.approx((0 + 90 + 30) / 3)
    assert total.service_level == pytest.approx(2 / 4)  # 0 s and 30 s within 60 s
    assert total.p_wait == pytest.approx(3 / 4)
    services = by_service(result.by_rule)
    assert services["NW"].abandoned == 1 and services["NW"].answered == 1
    assert services["PS"].asa_seconds == pytest.approx(45.0)
    assert len(result.intervals) == 96
    ten = result.intervals[20]  # 10:00-10:30
    assert ten.figures.offered == 3
    # ANA online 10:00:10-10:02:10 (and after midnight), busy all of it there
    assert ten.figures.occupancy == pytest.approx(1.0)


def test_kaplan_meier_uses_answered_waits_as_lower_bounds() -> None:
    # Two hang-ups at 10 s and 30 s, two answered at 20 s and 40 s.
    curve = kaplan_meier([(10, True), (20, False), (30, True), (40, False)])
    assert curve.times == (10, 30)
    assert curve.survival == pytest.approx((3 / 4, 3 / 4 * 1 / 2))
    # Hang-ups alone would say nobody holds past 30 s; KM keeps 37.5% beyond it.
    assert curve.surviving(35) == pytest.approx(0.375)
    assert curve.median() == 30
    assert curve.tail_rate == pytest.approx(2 / 100)


def test_kaplan_meier_recovers_a_known_patience_from_censored_waits() -> None:
    rng = random.Random(7)
    records = []
    for _ in range(20_000):
        patience, answered_after = rng.expovariate(1 / 200), rng.expovariate(1 / 100)
        records.append((min(patience, answered_after), patience <= answered_after))
    curve = kaplan_meier(records)
    # exponential with mean 200 s: median 200 ln 2 ≈ 138.6 s
    assert curve.median() == pytest.approx(138.6, rel=0.05)
    naive = sorted(w for w, hung in records if hung)[len([1 for _, h in records if h]) // 2]
    assert naive < 0.7 * curve.median()  # the hang-ups alone look far less patient
    draws = sorted(curve.draw(rng) for _ in range(4000))
    assert draws[2000] == pytest.approx(138.6, rel=0.1)


def test_the_real_month() -> None:
    path = locate_bank_csv()
    if not path.is_file():
        pytest.skip(f"the bank month is not at {path} (set TICKETROUTER_BANK_CSV)")
    calls = read_bank_calls(path)
    assert len(calls) == 42_078
    agents = bank_agents(calls)
    start, end = bank_month(calls)
    assert end == datetime(2010, 9, 2)  # a call queued after the last midnight
    result = historical_result(calls, agents, start, end, timedelta(minutes=30), 60)
    assert result.total.offered == 38_662  # one queued after the last midnight
    assert result.total.abandonment_rate == pytest.approx(0.188, abs=0.001)
    nw = by_service(result.by_rule)["NW"]
    assert nw.abandonment_rate == pytest.approx(0.378, abs=0.001)
    trained_pe = [a.name for a in agents if a.skills.get("pe") == 3]
    assert trained_pe  # someone holds every service type as a trained skill
