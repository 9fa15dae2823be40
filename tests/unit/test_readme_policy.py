"""The policy the README shows as shipped is the shipped file, rule for rule."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INTRO = "The shipped policy is `deploy/config/routing-rules.yaml`:"


def _readme_block() -> str:
    readme = (ROOT / "README.md").read_text()
    after = readme.split(INTRO, 1)[1]
    return after.split("```yaml\n", 1)[1].split("```\n", 1)[0]


def _file_without_its_header() -> str:
    lines = (ROOT / "deploy/config/routing-rules.yaml").read_text().splitlines(keepends=True)
    first = next(n for n, line in enumerate(lines) if not line.startswith("#"))
    return "".join(lines[first:])


def test_the_readme_shows_the_shipped_policy() -> None:
    assert _readme_block() == _file_without_its_header()
