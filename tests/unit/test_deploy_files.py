"""The deployment files agree with the code and with each other: containers cannot
run on every machine that runs the tests, so what can be checked without running
them is checked here (the image the manifests name is the one `make image` builds,
every setting they pass is one ticketrouter reads, every file they mount exists)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import yaml

from tests.tools import required_tool
from ticketrouter.config import Settings, to_env

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "container" / "Dockerfile"
KUBERNETES = DEPLOY / "kubernetes"
KNOWN_SETTINGS = set(to_env(Settings()))


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def manifests() -> list[dict[str, Any]]:
    files = sorted(KUBERNETES.glob("*.yaml"))
    assert files, f"no manifests under {KUBERNETES}"
    return [doc for path in files for doc in yaml.safe_load_all(path.read_text()) if doc]


def pod_containers() -> list[dict[str, Any]]:
    return [
        container
        for doc in manifests()
        if doc["kind"] in ("Deployment", "Job")
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]


def instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def project() -> dict[str, Any]:
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"])


def test_every_image_named_is_the_one_make_image_builds() -> None:
    makefile = (ROOT / "Makefile").read_text()
    built = re.search(r"^IMAGE \?= (\S+)$", makefile, re.MULTILINE)
    assert built is not None
    assert built.group(1) == f"ticketrouter:{project()['version']}"
    named = {c["image"] for c in pod_containers()}
    named |= {s["image"] for s in compose()["services"].values() if "ticketrouter" in s["image"]}
    assert named == {built.group(1)}


def test_every_setting_passed_is_one_ticketrouter_reads() -> None:
    passed = {
        name
        for service in compose()["services"].values()
        for name in service.get("environment", {})
        if name.startswith("TICKETROUTER_")
    }
    passed |= {e["name"] for c in pod_containers() for e in c.get("env", [])}
    for keyword, argument in instructions():
        if keyword == "ENV":
            passed |= set(re.findall(r"(TICKETROUTER_\w+)=", argument))
    assert passed, "no settings found: the parsing above is broken"
    assert passed - KNOWN_SETTINGS == set()


def test_every_file_compose_mounts_exists() -> None:
    mounts = [
        volume.split(":")[0]
        for service in compose()["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith(".")
    ]
    assert mounts
    missing = [m for m in mounts if not (COMPOSE.parent / m).exists()]
    assert missing == []


def test_prometheus_in_compose_loads_the_mounted_rules() -> None:
    [rules_mount] = [
        v for v in compose()["services"]["prometheus"]["volumes"] if "prometheus/rules" in v
    ]
    target = rules_mount.split(":")[1]
    config = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    assert config["rule_files"] == [f"{target}/*.yml"]
    assert list((DEPLOY / "prometheus" / "rules").glob("*.yml"))


def test_the_image_copies_files_that_exist_and_runs_the_console_script() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    copied = []
    for keyword, argument in instructions():
        if keyword == "COPY" and not argument.startswith("--from"):
            copied += argument.split()[:-1]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert source not in ignored, f"{source} is copied but .dockerignore drops it"
    entrypoint = [a for k, a in instructions() if k == "ENTRYPOINT"]
    assert entrypoint == ['["ticketrouter"]']
    assert "ticketrouter" in project()["scripts"]


def test_the_image_user_is_the_one_the_pods_run_as() -> None:
    [user] = [a for k, a in instructions() if k == "USER"]
    uid = int(user.split(":")[0])
    for doc in manifests():
        if doc["kind"] in ("Deployment", "Job"):
            assert doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == uid


def test_servers_in_production_layouts_never_migrate_by_themselves() -> None:
    env = compose()["x-router"]["environment"]
    assert env["TICKETROUTER_AUTO_MIGRATE"] == "0"
    assert compose()["services"]["migrate"]["command"] == ["db", "upgrade"]
    deployments = [doc for doc in manifests() if doc["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            auto_migrate = {"name": "TICKETROUTER_AUTO_MIGRATE", "value": "0"}
            assert auto_migrate in container["env"], deployment["metadata"]["name"]
    [job] = [doc for doc in manifests() if doc["kind"] == "Job"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]


def test_hadolint_passes_the_dockerfile() -> None:
    result = subprocess.run(
        [required_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_parses_the_stack() -> None:
    result = subprocess.run(
        [required_tool("docker-compose"), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def make_recipe(target: str) -> list[str]:
    lines = (ROOT / "Makefile").read_text().replace("\\\n", " ").splitlines()
    start = lines.index(next(line for line in lines if line.startswith(f"{target}:")))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def pip_installs(commands: list[str]) -> tuple[list[str], list[str]]:
    """The installs from a lock, and the others (which must add nothing from the index)."""
    installs = [c for c in commands if "pip install" in c]
    from_lock = [c for c in installs if re.search(r" -r \S+\.lock\b", c)]
    return from_lock, [c for c in installs if c not in from_lock]


def test_the_image_and_make_install_the_locks_with_their_hashes() -> None:
    image_commands = [
        command.strip()
        for keyword, argument in instructions()
        if keyword == "RUN"
        for command in argument.split("&&")
    ]
    for commands, lock in (
        (image_commands, "requirements.lock"),
        (make_recipe("$(STAMP)"), "requirements-dev.lock"),
    ):
        from_lock, others = pip_installs(commands)
        assert any(f"-r {lock}" in c for c in from_lock), f"nothing installs {lock}"
        for command in from_lock:
            assert "--require-hashes" in command and "--no-deps" in command, command
        assert others, "the package itself is installed"
        for command in others:
            assert command.split()[-1].startswith((".", "/")), f"not the package: {command}"
            assert "--no-deps" in command and "--require-hashes" not in command, command
    installed_in_image = {m for c in image_commands for m in re.findall(r"-r (\S+)", c)}
    assert installed_in_image == {"requirements.lock", "requirements-build.lock"}
    # the stub generator and the build backend stay in the build stage
    [build_tools] = [c.split()[0] for c in image_commands if "-r requirements-build.lock" in c]
    runtime_copies = [a.split()[1] for k, a in instructions() if k == "COPY" and "--from" in a]
    assert runtime_copies
    assert not any(build_tools.startswith(source) for source in runtime_copies), build_tools
    healthcheck = [a for k, a in instructions() if k == "HEALTHCHECK"]
    assert healthcheck and healthcheck[0].endswith('CMD ["ticketrouter", "health"]')
