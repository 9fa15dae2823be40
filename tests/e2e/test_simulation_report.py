"""The simulation's HTML report opened in a real headless browser: Debian's chromium
driven by Playwright (make browser installs it; CI fails rather than skip without)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ticketrouter.entrypoints.cli import main
from ticketrouter.entrypoints.report.html import Series, policy_series, write_report
from ticketrouter.entrypoints.simulate.results import Figures, IntervalFigures, SimulationResult

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "simulate"


def _result(asa: float, abandoned: float) -> SimulationResult:
    start = datetime(2026, 12, 1, 8, tzinfo=UTC)
    intervals = tuple(
        IntervalFigures(
            start + k * timedelta(minutes=30),
            Figures(
                offered=100,
                answered=100 - abandoned,
                abandoned=abandoned,
                abandonment_rate=abandoned / 100,
                asa_seconds=asa + k,
                wait_p90_seconds=3 * asa + k,
                service_level=0.7 + k / 100,
                occupancy=0.8,
            ),
            # billing works the first four hours only
            {"care": 0.8, **({"billing": 0.5 + k / 40} if k < 8 else {})},
        )
        for k in range(16)
    )
    total = Figures(
        offered=1600,
        answered=1600 - 16 * abandoned,
        abandoned=16 * abandoned,
        abandonment_rate=abandoned / 100,
        asa_seconds=asa,
        service_level=0.75,
        service_level_seconds=20,
        occupancy=0.8,
    )
    return SimulationResult(
        total=total, intervals=intervals, occupancy_by_team={"care": 0.8, "billing": 0.7}
    )


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        message = "Debian's chromium is not installed (make browser)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI requires it")
        pytest.skip(message)
    return found


def _open(report: Path) -> tuple[list[list[object]], list[str], str]:
    """The page's images (alt, loaded, width, height), its headings and its text."""
    browser_path = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=browser_path, args=["--no-sandbox"], headless=True
        )
        try:
            page = browser.new_page()
            page.goto(report.as_uri())
            page.wait_for_load_state("load", timeout=60_000)
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth, e.naturalHeight])"
            )
            headings = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
            text = page.inner_text("body")
        finally:
            browser.close()
    assert len(images) == 5
    for alt, complete, width, height in images:
        assert complete and width > 100 and height > 100, alt
    assert "http" not in report.read_text()  # nothing fetched from anywhere
    return images, headings, text


def test_the_report_opens_with_its_plots_and_numbers(tmp_path: Path) -> None:
    report = write_report(
        tmp_path / "report",
        [Series("current", _result(30.0, 4)), Series("draft", _result(12.5, 2))],
        "voice-center: current against draft",
    )
    _, headings, text = _open(report)
    assert headings == [
        "Totals",
        "Waiting per interval",
        "Abandonment per interval",
        "Service level (20 s) against the 80% target",
        "Occupancy per team",
        "Occupancy per team per interval",
    ]
    assert "30.0" in text and "12.5" in text and "-17.5" in text  # ASA and its change
    assert "4.0%" in text and "2.0%" in text  # abandonment rates


def test_simulate_report_draws_the_run_beside_its_draft(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ticketrouter simulate SCENARIO --policy DRAFT --report DIR` writes the page
    of the run itself: its totals, current beside draft, as --json printed them."""
    scenario = tmp_path / "short.yaml"
    text = (DEPLOY / "voice-center.yaml").read_text().replace("duration: 8h", "duration: 2h")
    scenario.write_text(
        text.replace("replications: 5", "replications: 1").replace(
            "policy: one-skill-policy.yaml", f"policy: {DEPLOY / 'one-skill-policy.yaml'}"
        )
    )
    draft = DEPLOY / "one-skill-policy.yaml"
    out = tmp_path / "what-if"
    assert (
        main(["simulate", str(scenario), "--policy", str(draft), "--json", "--report", str(out)])
        == 0
    )
    printed = capsys.readouterr()
    result = json.loads(printed.out)
    assert f"wrote {out / 'report.html'}" in printed.err
    _, headings, page = _open(out / "report.html")
    assert "Service level (20 s) against the 80% target" in headings
    assert "current" in page and "draft" in page
    assert f"{result['asa_seconds']:.1f}" in page
    assert f"{result['draft']['abandonment_rate']:.1%}" in page


def test_figures_a_series_lacks_read_not_available(tmp_path: Path) -> None:
    history = Series("history", _result(30.0, 4), frozenset({"fcr_rate"}))
    page = write_report(tmp_path, [history, *policy_series(_result(12.5, 2))], "t")
    fcr_row = next(line for line in page.read_text().splitlines() if "<td>FCR</td>" in line)
    assert fcr_row.count("n/a") == 2  # history's, and the difference
