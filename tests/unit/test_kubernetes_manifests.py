"""The Kubernetes manifests hold together without a cluster: every reference between
documents (Service to pods, ports by name, ConfigMap keys, the KEDA trigger to the
workers' own settings) resolves, every pod runs unprivileged, the probes ask what
each process serves, and the core kinds validate against Kubernetes' own schemas.
Images and the image's user are test_deploy_files' concern."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from ticketrouter.adapters import kafka as kafka_adapter
from ticketrouter.config import Settings, from_env, to_env
from ticketrouter.entrypoints.grpc_server import GRACE_SECONDS
from ticketrouter.entrypoints.runtime import Runtime
from ticketrouter.v1 import routing_pb2

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
DOCKERFILE = ROOT / "deploy" / "container" / "Dockerfile"
KNOWN_SETTINGS = set(to_env(Settings()))
# The oldest Kubernetes the manifests are written for: the preStop `sleep` action is
# on by default from 1.30.
KUBERNETES_VERSION = "1.30"
WORKLOADS = ("Deployment", "Job")
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
# The runtime closes its Kafka producer with this timeout (runtime.py) when stopping.
PRODUCER_CLOSE_S = 5
SECRETS_LINE = re.compile(r"^# Secrets this layout expects[^:]*: (.+)$", re.MULTILINE)
ROUTING_SERVICE = routing_pb2.DESCRIPTOR.services_by_name["RoutingService"].full_name

Doc = dict[str, Any]


def files() -> list[Path]:
    found = sorted(KUBERNETES.glob("*.yaml"))
    assert found, f"no manifests under {KUBERNETES}"
    return found


@functools.cache
def parsed(path: Path) -> tuple[Doc, ...]:
    """Every document of one file, parsed once; the tests only read them."""
    return tuple(doc for doc in yaml.safe_load_all(path.read_text()) if doc)


def documents(kind: str | None = None) -> list[Doc]:
    docs = [doc for path in files() for doc in parsed(path)]
    return [doc for doc in docs if kind is None or doc.get("kind") == kind]


def ident(doc: Doc) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def workloads() -> list[Doc]:
    return [doc for doc in documents() if doc["kind"] in WORKLOADS]


def pod_spec(workload: Doc) -> dict[str, Any]:
    return dict(workload["spec"]["template"]["spec"])


def pod_labels(workload: Doc) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"].get("labels", {}))


def containers(workload: Doc) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def deployment(name: str) -> Doc:
    found = [doc for doc in documents("Deployment") if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one Deployment {name}, found {len(found)}"
    return found[0]


def server() -> Doc:
    return deployment("ticketrouter-server")


def worker() -> Doc:
    return deployment("ticketrouter-worker")


def only_container(workload: Doc) -> dict[str, Any]:
    [container] = pod_spec(workload)["containers"]
    return dict(container)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels / matchExpressions) against a pod's labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def deployments_selected(selector: dict[str, Any]) -> list[Doc]:
    return [d for d in documents("Deployment") if selects(selector, pod_labels(d))]


def port_names(workload: Doc) -> dict[str, int]:
    return {
        port["name"]: port["containerPort"]
        for container in containers(workload)
        for port in container.get("ports", [])
        if "name" in port
    }


def port_numbers(workload: Doc) -> set[int]:
    return {
        port["containerPort"]
        for container in containers(workload)
        for port in container.get("ports", [])
    }


def container_has_port(container: dict[str, Any], port: int | str) -> bool:
    declared = container.get("ports", [])
    if isinstance(port, str):
        return port in {p.get("name") for p in declared}
    return port in {p["containerPort"] for p in declared}


def config_maps() -> dict[str, dict[str, str]]:
    return {doc["metadata"]["name"]: dict(doc.get("data", {})) for doc in documents("ConfigMap")}


def image_env() -> dict[str, str]:
    """What the image's ENV instructions set, before any pod setting."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip().upper().startswith("ENV "):
            found.update(re.findall(r"(\w+)=(\S+)", line))
    return found


def environment(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as Kubernetes builds it: the image's ENV, then
    envFrom in order, then env. A value from a Secret stands as a placeholder."""
    env = dict(image_env())
    maps = config_maps()
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            for key, value in maps.get(source["configMapRef"]["name"], {}).items():
                env[prefix + key] = str(value)
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
            continue
        ref = entry.get("valueFrom", {})
        if "configMapKeyRef" in ref:
            key_ref = ref["configMapKeyRef"]
            env[entry["name"]] = str(maps.get(key_ref["name"], {}).get(key_ref["key"], ""))
        elif "secretKeyRef" in ref:
            key_ref = ref["secretKeyRef"]
            env[entry["name"]] = f"secret-{key_ref['name']}-{key_ref['key']}"
    return env


def settings_of(workload: Doc) -> Settings:
    return from_env(environment(only_container(workload)))


def env_names(container: dict[str, Any]) -> set[str]:
    names = {entry["name"] for entry in container.get("env", [])}
    maps = config_maps()
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            keys = maps.get(source["configMapRef"]["name"], {})
            names |= {source.get("prefix", "") + key for key in keys}
    return names


def documented_secrets() -> dict[str, set[str]]:
    lines = [m.group(1) for path in files() for m in SECRETS_LINE.finditer(path.read_text())]
    assert len(lines) == 1, (
        f"expected one '# Secrets this layout expects: name (key, ...), ...' line in "
        f"{KUBERNETES}, found {len(lines)}"
    )
    entries = re.findall(r"([\w.-]+) \(([^)]*)\)", lines[0])
    assert entries, f"no 'name (key, ...)' entries in: {lines[0]}"
    return {name: {key.strip() for key in keys.split(",")} for name, keys in entries}


def scaled_object() -> Doc:
    found = documents("ScaledObject")
    assert len(found) == 1, f"expected one ScaledObject, found {len(found)}"
    return found[0]


def kafka_trigger() -> dict[str, str]:
    triggers = [t for t in scaled_object()["spec"]["triggers"] if t["type"] == "kafka"]
    assert len(triggers) == 1, f"expected one kafka trigger, found {len(triggers)}"
    return dict(triggers[0]["metadata"])


def sync_wave(doc: Doc) -> int:
    annotations = doc["metadata"].get("annotations", {})
    return int(annotations.get("argocd.argoproj.io/sync-wave", "0"))


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


def test_every_document_has_an_api_version_a_kind_and_a_name() -> None:
    for path in files():
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            missing = [key for key in ("apiVersion", "kind") if not doc.get(key)]
            if not doc.get("metadata", {}).get("name"):
                missing.append("metadata.name")
            assert missing == [], f"{path.name}: {ident(doc)} lacks {missing}"


def test_names_are_unique_per_kind() -> None:
    seen = [ident(doc) for doc in documents()]
    repeated = sorted({name for name in seen if seen.count(name) > 1})
    assert repeated == [], f"defined more than once: {repeated}"


def test_every_pod_runs_unprivileged_on_a_read_only_root() -> None:
    assert workloads(), "no Deployment or Job found"
    for workload in workloads():
        pod = pod_spec(workload).get("securityContext", {})
        for container in containers(workload):
            own = container.get("securityContext", {})
            where = f"{ident(workload)} container {container['name']}"
            assert own.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, (
                f"{where}: runAsNonRoot is not true"
            )
            assert own.get("runAsUser", pod.get("runAsUser")) not in (None, 0), (
                f"{where}: no non-zero runAsUser"
            )
            assert own.get("readOnlyRootFilesystem") is True, (
                f"{where}: the root filesystem is writable"
            )
            assert own.get("allowPrivilegeEscalation") is False, (
                f"{where}: privilege escalation is allowed"
            )
            assert own.get("capabilities", {}).get("drop") == ["ALL"], (
                f"{where}: capabilities are not all dropped"
            )


def test_no_pod_gets_service_links() -> None:
    """A Service named ticketrouter-* would put TICKETROUTER_*_PORT variables into
    every pod of the namespace: the prefix the settings are read from."""
    for workload in workloads():
        assert pod_spec(workload).get("enableServiceLinks") is False, (
            f"{ident(workload)}: enableServiceLinks must be false"
        )


def test_every_config_map_and_key_referenced_is_defined() -> None:
    maps = config_maps()
    references = 0
    for workload in workloads():
        for container in containers(workload):
            where = f"{ident(workload)} container {container['name']}"
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    references += 1
                    name = source["configMapRef"]["name"]
                    assert name in maps, f"{where}: envFrom names ConfigMap {name}, not defined"
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("configMapKeyRef")
                if ref is None or ref.get("optional"):
                    continue
                references += 1
                assert ref["key"] in maps.get(ref["name"], {}), (
                    f"{where}: {entry['name']} reads ConfigMap {ref['name']} key {ref['key']}, "
                    f"which is not defined"
                )
    assert references, "no ConfigMap is referenced: the workers and the scaler share none"


def test_every_secret_referenced_is_documented_and_none_is_committed() -> None:
    documented = documented_secrets()
    referenced: dict[str, set[str]] = {}
    for workload in workloads():
        for container in containers(workload):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    referenced.setdefault(ref["name"], set()).add(ref["key"])
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    referenced.setdefault(source["secretRef"]["name"], set())
    for name, keys in referenced.items():
        assert name in documented, f"Secret {name} is used but not in the documented list"
        assert keys <= documented[name], (
            f"Secret {name}: keys {sorted(keys - documented[name])} are used but not documented"
        )
    assert set(documented) == set(referenced), (
        f"documented but unused Secrets: {sorted(set(documented) - set(referenced))}"
    )
    for name, keys in documented.items():
        assert keys == referenced[name], (
            f"Secret {name}: documented keys {sorted(keys - referenced[name])} are unused"
        )
    assert documents("Secret") == [], "Secrets are created by the operator, never committed"


def test_every_service_selects_the_pods_of_exactly_one_deployment() -> None:
    services = documents("Service")
    assert services, "no Service found"
    for service in services:
        selected = deployments_selected({"matchLabels": service["spec"].get("selector", {})})
        assert len(selected) == 1, (
            f"{ident(service)} selects {[ident(d) for d in selected]}, expected one Deployment"
        )


def test_every_service_target_port_is_a_port_of_its_pods() -> None:
    for service in documents("Service"):
        [target] = deployments_selected({"matchLabels": service["spec"]["selector"]})
        names, numbers = port_names(target), port_numbers(target)
        for port in service["spec"]["ports"]:
            wanted = port.get("targetPort", port["port"])
            known = names if isinstance(wanted, str) else numbers
            assert wanted in known, (
                f"{ident(service)} port {port.get('name')}: targetPort {wanted!r} is not a "
                f"container port of {ident(target)} (names {sorted(names)})"
            )


def test_every_pod_selector_matches_exactly_one_deployment() -> None:
    selectors: list[tuple[str, dict[str, Any]]] = []
    for pdb in documents("PodDisruptionBudget"):
        selectors.append((ident(pdb), pdb["spec"]["selector"]))
    for policy in documents("NetworkPolicy"):
        selectors.append((ident(policy), policy["spec"]["podSelector"]))
    for workload in documents("Deployment"):
        for spread in pod_spec(workload).get("topologySpreadConstraints", []):
            selectors.append((f"{ident(workload)} topology spread", spread["labelSelector"]))
    kinds = {name.split("/")[0] for name, _ in selectors}
    assert {"PodDisruptionBudget", "NetworkPolicy"} <= kinds, f"selectors found: {kinds}"
    for name, selector in selectors:
        selected = deployments_selected(selector)
        assert len(selected) == 1, (
            f"{name} selects {[ident(d) for d in selected]}, expected one Deployment's pods"
        )


def test_every_deployment_has_a_disruption_budget_and_a_network_policy() -> None:
    for workload in documents("Deployment"):
        labels = pod_labels(workload)
        budgets = [
            p for p in documents("PodDisruptionBudget") if selects(p["spec"]["selector"], labels)
        ]
        policies = [
            p for p in documents("NetworkPolicy") if selects(p["spec"]["podSelector"], labels)
        ]
        assert budgets, f"{ident(workload)}: no PodDisruptionBudget selects its pods"
        assert policies, f"{ident(workload)}: no NetworkPolicy selects its pods"


def test_every_network_policy_port_exists_on_the_selected_pods() -> None:
    for policy in documents("NetworkPolicy"):
        [target] = deployments_selected(policy["spec"]["podSelector"])
        names, numbers = port_names(target), port_numbers(target)
        rules = policy["spec"].get("ingress", [])
        assert rules, f"{ident(policy)}: no ingress rule (everything refused)"
        for rule in rules:
            assert rule.get("ports"), f"{ident(policy)}: a rule without ports opens every port"
            for port in rule["ports"]:
                wanted = port["port"]
                known = names if isinstance(wanted, str) else numbers
                assert wanted in known, (
                    f"{ident(policy)}: port {wanted!r} is not a container port of {ident(target)}"
                )


def test_the_server_takes_grpc_only_from_clients_and_metrics_only_from_prometheus() -> None:
    [policy] = [
        p
        for p in documents("NetworkPolicy")
        if selects(p["spec"]["podSelector"], pod_labels(server()))
    ]
    opened = {
        port["port"]: rule["from"] for rule in policy["spec"]["ingress"] for port in rule["ports"]
    }
    assert set(opened) == {"grpc", "metrics"}, f"{ident(policy)} opens {sorted(opened)}"
    client = {"podSelector": {"matchLabels": {"ticketrouter.io/grpc-client": "true"}}}
    assert opened["grpc"] == [client], f"gRPC is open to {opened['grpc']}"
    assert all("namespaceSelector" in peer for peer in opened["metrics"]), (
        f"/metrics is open beyond the monitoring namespace: {opened['metrics']}"
    )


def test_the_scaled_object_scales_the_worker_deployment() -> None:
    target = scaled_object()["spec"]["scaleTargetRef"]
    assert target.get("kind", "Deployment") == "Deployment", f"scaleTargetRef is {target}"
    assert target["name"] == worker()["metadata"]["name"], (
        f"scaleTargetRef names {target['name']}, not the worker Deployment"
    )
    assert "replicas" not in worker()["spec"], (
        "the worker Deployment sets replicas: every apply would reset what KEDA chose"
    )


def test_the_kafka_trigger_watches_what_the_workers_consume() -> None:
    trigger, settings = kafka_trigger(), settings_of(worker())
    assert settings.kafka_bootstrap, "the workers get no TICKETROUTER_KAFKA_BOOTSTRAP"
    assert trigger["bootstrapServers"] == settings.kafka_bootstrap, (
        f"trigger bootstrapServers {trigger['bootstrapServers']!r}, "
        f"workers {settings.kafka_bootstrap!r}"
    )
    assert trigger["consumerGroup"] == settings.group_id, (
        f"trigger consumerGroup {trigger['consumerGroup']!r}, workers {settings.group_id!r}"
    )
    assert trigger["topic"] == settings.contacts_topic, (
        f"trigger topic {trigger['topic']!r}, workers {settings.contacts_topic!r}"
    )


def test_the_scaler_stays_within_the_partitions() -> None:
    spec, partitions = scaled_object()["spec"], settings_of(worker()).topic_partitions
    low, high = spec["minReplicaCount"], spec["maxReplicaCount"]
    assert 1 <= low <= high, f"minReplicaCount {low}, maxReplicaCount {high}"
    assert high <= partitions, (
        f"maxReplicaCount {high} exceeds the {partitions} partitions: the extra workers "
        f"would get no partition"
    )
    assert kafka_trigger().get("allowIdleConsumers", "false") == "false", (
        "allowIdleConsumers lets KEDA add workers that get no partition"
    )


def test_one_batch_in_hand_never_triggers_another_worker() -> None:
    threshold = int(kafka_trigger()["lagThreshold"])
    batch = settings_of(worker()).batch_size
    assert threshold > batch, (
        f"lagThreshold {threshold} is not above TICKETROUTER_BATCH_SIZE {batch}: a batch "
        f"counts as lag until it commits, so one busy worker would scale out by itself"
    )


def test_the_scaler_resets_offsets_as_the_workers_do(monkeypatch: pytest.MonkeyPatch) -> None:
    options: dict[str, Any] = {}

    class Recorder:
        def __init__(self, **given: Any) -> None:
            options.update(given)

        def subscribe(self, topics: list[str], listener: object = None) -> None:
            pass

    monkeypatch.setattr(kafka_adapter, "KafkaConsumer", Recorder)
    kafka_adapter.create_consumer("kafka:9092", "contacts", "group", 500, 30_000)
    assert kafka_trigger()["offsetResetPolicy"] == options["auto_offset_reset"], (
        f"the scaler assumes {kafka_trigger()['offsetResetPolicy']!r} for a group without "
        f"offsets, the workers start from {options['auto_offset_reset']!r}"
    )


def test_the_server_runs_without_a_worker_and_the_worker_alone() -> None:
    server_args = only_container(server())["args"]
    assert server_args[0] == "serve" and "--without-worker" in server_args, (
        f"server args {server_args}: a server with a worker would join the group too"
    )
    assert only_container(worker())["args"] == ["worker"], (
        f"worker args {only_container(worker())['args']}"
    )


def test_server_probes_ask_the_grpc_health_service_on_the_grpc_port() -> None:
    container = only_container(server())
    grpc_port = port_names(server()).get("grpc")
    assert grpc_port is not None, "the server declares no container port named grpc"
    for probe in PROBES:
        assert probe in container, f"the server has no {probe}"
        action = container[probe].get("grpc")
        assert action is not None, f"the server's {probe} is not a gRPC probe"
        assert action["port"] == grpc_port, (
            f"the server's {probe} asks port {action['port']}, the gRPC port is {grpc_port}"
        )
    assert container["readinessProbe"]["grpc"].get("service", "") == "", (
        "readiness must ask the whole server (service '')"
    )
    assert container["livenessProbe"]["grpc"].get("service") == ROUTING_SERVICE, (
        f"liveness must ask {ROUTING_SERVICE}, which only a stopping process turns off"
    )


def test_worker_probes_ask_the_metrics_endpoint() -> None:
    container = only_container(worker())
    assert "grpc" not in port_names(worker()), "`ticketrouter worker` opens no gRPC port"
    for probe in PROBES:
        assert probe in container, f"the worker has no {probe}"
        action = container[probe].get("httpGet")
        assert action is not None, f"the worker's {probe} is not an httpGet of /metrics"
        assert action["path"] == "/metrics", f"the worker's {probe} asks {action['path']}"
        assert action["port"] in ("metrics", port_names(worker())["metrics"]), (
            f"the worker's {probe} asks port {action['port']}"
        )


def test_every_probe_port_is_a_port_of_its_container() -> None:
    checked = 0
    for workload in workloads():
        for container in containers(workload):
            for probe in PROBES:
                spec = container.get(probe)
                if spec is None:
                    continue
                for kind in ("httpGet", "tcpSocket", "grpc"):
                    if kind in spec:
                        checked += 1
                        port = spec[kind]["port"]
                        assert container_has_port(container, port), (
                            f"{ident(workload)} container {container['name']}: {probe} asks "
                            f"port {port!r}, which the container does not declare"
                        )
    assert checked, "no probe found"


def test_the_processes_listen_on_their_declared_ports() -> None:
    for workload in documents("Deployment"):
        settings, names = settings_of(workload), port_names(workload)
        where = ident(workload)
        assert settings.metrics_address.startswith("0.0.0.0:"), (
            f"{where}: metrics on {settings.metrics_address}, unreachable from outside the pod"
        )
        assert port_of(settings.metrics_address) == names.get("metrics"), (
            f"{where}: metrics on {settings.metrics_address}, container port {names}"
        )
        scrape = workload["spec"]["template"]["metadata"].get("annotations", {})
        assert scrape.get("prometheus.io/scrape") == "true", f"{where}: not scraped"
        assert int(scrape["prometheus.io/port"]) == names["metrics"], (
            f"{where}: Prometheus scrapes port {scrape['prometheus.io/port']}"
        )
    settings = settings_of(server())
    assert settings.grpc_address.startswith("0.0.0.0:"), f"gRPC on {settings.grpc_address}"
    assert port_of(settings.grpc_address) == port_names(server())["grpc"], (
        f"gRPC on {settings.grpc_address}, container ports {port_names(server())}"
    )


def test_every_setting_name_is_one_ticketrouter_reads() -> None:
    names: set[str] = set()
    for workload in workloads():
        for container in containers(workload):
            names |= {n for n in env_names(container) if n.startswith("TICKETROUTER_")}
    assert names, "no TICKETROUTER_* settings found: the parsing above is broken"
    unknown = sorted(names - KNOWN_SETTINGS)
    assert unknown == [], f"settings ticketrouter does not read: {unknown}"


def test_every_value_passed_parses_as_settings() -> None:
    for workload in workloads():
        for container in containers(workload):
            try:
                from_env(environment(container))
            except SystemExit as err:
                pytest.fail(f"{ident(workload)} container {container['name']}: {err}")


def test_a_stopping_worker_has_time_to_finish_its_batch() -> None:
    settings = settings_of(worker())
    leave_group_ms = next(
        f.default for f in dataclasses.fields(Runtime) if f.name == "leave_group_timeout_ms"
    )
    assert isinstance(leave_group_ms, int)
    needed = (settings.max_poll_interval_ms + leave_group_ms) / 1000 + PRODUCER_CLOSE_S
    grace = pod_spec(worker())["terminationGracePeriodSeconds"]
    assert grace > needed, (
        f"worker terminationGracePeriodSeconds {grace} s: a batch (max poll interval), "
        f"leaving the group and closing the producer take up to {needed:g} s"
    )


def test_a_stopping_server_has_time_to_drain() -> None:
    settings = settings_of(server())
    container = only_container(server())
    pause = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    needed = pause + GRACE_SECONDS + settings.statement_timeout_ms / 1000 + PRODUCER_CLOSE_S
    grace = pod_spec(server())["terminationGracePeriodSeconds"]
    assert grace > needed, (
        f"server terminationGracePeriodSeconds {grace} s: preStop, in-flight calls, a "
        f"housekeeping statement and closing the producer take up to {needed:g} s"
    )


def test_the_migration_runs_before_the_deployments_roll() -> None:
    [job] = documents("Job")
    tag = only_container(job)["image"].rpartition(":")[2]
    assert job["metadata"]["name"] == f"ticketrouter-migrate-{tag.replace('.', '-')}", (
        f"{ident(job)}: a Job is immutable, so its name must carry the version {tag}"
    )
    assert only_container(job)["args"] == ["db", "upgrade"]
    for workload in documents("Deployment"):
        assert sync_wave(job) < sync_wave(workload), (
            f"{ident(job)} (wave {sync_wave(job)}) must complete before {ident(workload)} "
            f"(wave {sync_wave(workload)}) rolls"
        )
    assert sync_wave(worker()) < sync_wave(server()), (
        "deploy/RUNBOOK.md rolls the workers before the servers"
    )


def kubernetes_validate() -> ModuleType:
    try:
        import kubernetes_validate as module
    except ImportError:
        message = "kubernetes-validate is not installed (make setup installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return module  # type: ignore[no-any-return]


def is_core(api_version: str) -> bool:
    """Kubernetes' own API groups (v1, apps, batch, *.k8s.io), not a CRD's."""
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def test_core_documents_validate_against_the_kubernetes_schemas() -> None:
    validator = kubernetes_validate()
    core = [doc for doc in documents() if is_core(doc["apiVersion"])]
    kinds = {doc["kind"] for doc in core}
    expected = {"ConfigMap", "Deployment", "Job", "NetworkPolicy", "PodDisruptionBudget", "Service"}
    assert expected <= kinds, f"core kinds found: {sorted(kinds)}"
    for doc in core:
        try:
            validator.validate(doc, KUBERNETES_VERSION, strict=True)
        except validator.ValidationError as err:
            path = ".".join(str(p) for p in err.path)
            pytest.fail(f"{ident(doc)} at {path}: {err.message}")


# KEDA's CRD, reduced to what the manifests use: unknown fields are typos here.
SCALED_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {"type": "object"},
                "advanced": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                "behavior": {"type": "object"},
                            },
                        },
                        "scalingModifiers": {"type": "object"},
                    },
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "useCachedMetrics": {"type": "boolean"},
                            "authenticationRef": {"type": "object"},
                            # KEDA reads trigger metadata as strings only.
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_the_scaled_object_validates_and_its_hpa_would_too() -> None:
    validator = kubernetes_validate()
    import jsonschema  # installed with kubernetes-validate

    doc = scaled_object()
    try:
        jsonschema.validate(doc, SCALED_OBJECT_SCHEMA)
    except jsonschema.ValidationError as err:
        path = ".".join(str(p) for p in err.path)
        pytest.fail(f"{ident(doc)} at {path}: {err.message}")
    spec = doc["spec"]
    # KEDA creates this HorizontalPodAutoscaler: its behavior must be a valid one.
    hpa_config = dict(spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}))
    hpa_config.pop("name", None)
    hpa: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": f"keda-hpa-{doc['metadata']['name']}"},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                **spec["scaleTargetRef"],
            },
            "minReplicas": spec.get("minReplicaCount", 0) or 1,
            "maxReplicas": spec.get("maxReplicaCount", 100),
            **hpa_config,
        },
    }
    try:
        validator.validate(hpa, KUBERNETES_VERSION, strict=True)
    except validator.ValidationError as err:
        path = ".".join(str(p) for p in err.path)
        pytest.fail(f"{ident(doc)} advanced.horizontalPodAutoscalerConfig at {path}: {err.message}")
