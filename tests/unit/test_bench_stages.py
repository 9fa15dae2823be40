"""`ticketrouter bench --stages`: which stages a run takes, in run order."""

from __future__ import annotations

import pytest

from ticketrouter.entrypoints.bench import STAGES, parse_stages
from ticketrouter.entrypoints.cli import main


def test_stages_run_in_bench_order_whatever_order_they_are_named_in() -> None:
    assert parse_stages("grpc, worker") == ("worker", "grpc")
    assert parse_stages(",".join(reversed(STAGES))) == STAGES


def test_an_unknown_stage_is_named_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown stage grcp: choose from worker"):
        parse_stages("grcp,worker")
    with pytest.raises(ValueError, match="no stage named"):
        parse_stages(" , ")


def test_the_command_line_refuses_an_unknown_stage_before_running_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--stages", "grpc,nope"])
    assert exit_.value.code == 2
    assert "unknown stage nope" in capsys.readouterr().err
