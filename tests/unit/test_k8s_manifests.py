"""deploy/k8s: the Flink Kubernetes Operator manifests parse, use only what the operator's CRD defines, pass what
its validator demands, and agree with lakegate's settings and with the Flink configuration jobs/runtime.py gives
the job. Pure Python: no JVM (jobs.runtime is imported, its Configuration replaced), no cluster."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyflink.java_gateway
import pytest
import yaml

from jobs import runtime as jobs_runtime
from jobs.runtime import REPORTER_INCLUDES
from lakegate.errors import SettingsError
from lakegate.objectstore import jvm_environment
from lakegate.settings import ENV_PREFIX, Secret, Settings

from .support import REPO

K8S = REPO / "deploy" / "k8s"
DEPLOYMENT = K8S / "flinkdeployment-ingest.yaml"
CONFIGMAP = K8S / "configmap-lakegate.yaml"
SECRET = K8S / "secret-lakegate.example.yaml"
PODMONITOR = K8S / "podmonitor.yaml"
EXPECTED = {
    DEPLOYMENT.name: ("flink.apache.org/v1beta1", "FlinkDeployment"),
    CONFIGMAP.name: ("v1", "ConfigMap"),
    SECRET.name: ("v1", "Secret"),
    PODMONITOR.name: ("monitoring.coreos.com/v1", "PodMonitor"),
}

# ---- Vendored facts about the operator ----------------------------------------------------------------------
# From apache/flink-kubernetes-operator, tag release-1.15.0 (commit 79d730bab4d8403f3a447fb027f879f5cbdc59ad):
# helm/flink-kubernetes-operator/crds/flinkdeployments.flink.apache.org-v1.yml (group flink.apache.org, the
# only version v1beta1, kind FlinkDeployment). Only the structure these manifests touch; the CRD is not vendored.
# The CRD marks no field `required` and, since operator 1.13, types spec.flinkConfiguration as free-form
# (x-kubernetes-preserve-unknown-fields; up to 1.12 it was map<string,string>, hence string values here).
# v2_1 first appears in the flinkVersion enum of release-1.13.0; the main branch (commit 6e9caeb4) adds v2_3, v2_4.
CRD_SPEC_TYPES = {
    "flinkConfiguration": object,
    "flinkVersion": str,
    "image": str,
    "imagePullPolicy": str,
    "ingress": dict,
    "job": dict,
    "jobManager": dict,
    "logConfiguration": dict,
    "mode": str,
    "podTemplate": dict,
    "restartNonce": int,
    "serviceAccount": str,
    "taskManager": dict,
}
CRD_FLINK_VERSIONS = {"v1_13", "v1_14", "v1_15", "v1_16", "v1_17", "v1_18", "v1_19", "v1_20", "v2_0", "v2_1", "v2_2"}
CRD_MODES = {"native", "standalone"}
CRD_JOB_TYPES = {
    "allowNonRestoredState": bool,
    "args": list,
    "autoscalerResetNonce": int,
    "checkpointTriggerNonce": int,
    "entryClass": str,
    "initialSavepointPath": str,
    "jarURI": str,
    "parallelism": int,
    "savepointRedeployNonce": int,
    "savepointTriggerNonce": int,
    "state": str,
    "upgradeMode": str,
}
CRD_JOB_STATES = {"running", "suspended"}
CRD_UPGRADE_MODES = {"last-state", "savepoint", "stateless"}
CRD_COMPONENT_KEYS = {"podTemplate", "replicas", "resource"}  # jobManager and taskManager
CRD_RESOURCE_TYPES = {"cpu": (int, float), "memory": str, "ephemeralStorage": str}  # cpu: number
# spec.podTemplate (and jobManager/taskManager.podTemplate): the Pod schema, keys of the parts used here.
POD_KEYS = {
    (): {"apiVersion", "kind", "metadata", "spec", "status"},
    ("metadata",): {
        "annotations",
        "creationTimestamp",
        "deletionGracePeriodSeconds",
        "deletionTimestamp",
        "finalizers",
        "generateName",
        "generation",
        "labels",
        "managedFields",
        "name",
        "namespace",
        "ownerReferences",
        "resourceVersion",
        "selfLink",
        "uid",
    },
    ("spec",): {
        "activeDeadlineSeconds",
        "affinity",
        "automountServiceAccountToken",
        "containers",
        "dnsConfig",
        "dnsPolicy",
        "enableServiceLinks",
        "ephemeralContainers",
        "hostAliases",
        "hostIPC",
        "hostNetwork",
        "hostPID",
        "hostUsers",
        "hostname",
        "imagePullSecrets",
        "initContainers",
        "nodeName",
        "nodeSelector",
        "os",
        "overhead",
        "preemptionPolicy",
        "priority",
        "priorityClassName",
        "readinessGates",
        "resourceClaims",
        "resources",
        "restartPolicy",
        "runtimeClassName",
        "schedulerName",
        "schedulingGates",
        "securityContext",
        "serviceAccount",
        "serviceAccountName",
        "setHostnameAsFQDN",
        "shareProcessNamespace",
        "subdomain",
        "terminationGracePeriodSeconds",
        "tolerations",
        "topologySpreadConstraints",
        "volumes",
    },
    ("spec", "securityContext"): {
        "appArmorProfile",
        "fsGroup",
        "fsGroupChangePolicy",
        "runAsGroup",
        "runAsNonRoot",
        "runAsUser",
        "seLinuxChangePolicy",
        "seLinuxOptions",
        "seccompProfile",
        "supplementalGroups",
        "supplementalGroupsPolicy",
        "sysctls",
        "windowsOptions",
    },
    ("spec", "containers", "[]"): {
        "args",
        "command",
        "env",
        "envFrom",
        "image",
        "imagePullPolicy",
        "lifecycle",
        "livenessProbe",
        "name",
        "ports",
        "readinessProbe",
        "resizePolicy",
        "resources",
        "restartPolicy",
        "securityContext",
        "startupProbe",
        "stdin",
        "stdinOnce",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "tty",
        "volumeDevices",
        "volumeMounts",
        "workingDir",
    },
    ("spec", "containers", "[]", "ports", "[]"): {"containerPort", "hostIP", "hostPort", "name", "protocol"},
    ("spec", "containers", "[]", "env", "[]"): {"name", "value", "valueFrom"},
    ("spec", "containers", "[]", "env", "[]", "valueFrom"): {
        "configMapKeyRef",
        "fieldRef",
        "resourceFieldRef",
        "secretKeyRef",
    },
    ("spec", "containers", "[]", "env", "[]", "valueFrom", "secretKeyRef"): {"key", "name", "optional"},
    ("spec", "containers", "[]", "envFrom", "[]"): {"configMapRef", "prefix", "secretRef"},
    ("spec", "containers", "[]", "envFrom", "[]", "configMapRef"): {"name", "optional"},
    ("spec", "containers", "[]", "volumeMounts", "[]"): {
        "mountPath",
        "mountPropagation",
        "name",
        "readOnly",
        "recursiveReadOnly",
        "subPath",
        "subPathExpr",
    },
    ("spec", "volumes", "[]"): {
        "awsElasticBlockStore",
        "azureDisk",
        "azureFile",
        "cephfs",
        "cinder",
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "fc",
        "flexVolume",
        "flocker",
        "gcePersistentDisk",
        "gitRepo",
        "glusterfs",
        "hostPath",
        "image",
        "iscsi",
        "name",
        "nfs",
        "persistentVolumeClaim",
        "photonPersistentDisk",
        "portworxVolume",
        "projected",
        "quobyte",
        "rbd",
        "scaleIO",
        "secret",
        "storageos",
        "vsphereVolume",
    },
    ("spec", "volumes", "[]", "persistentVolumeClaim"): {"claimName", "readOnly"},
}
# What the CRD leaves to the operator's validation: flink-kubernetes-operator/src/main/java/org/apache/flink/
# kubernetes/operator/validation/DefaultValidator.java at the same commit.
VALID_NAME = re.compile(r"[a-z]([-a-z\d]{0,43}[a-z\d])?")
FORBIDDEN_KEYS = {"kubernetes.namespace", "kubernetes.cluster-id", "high-availability.cluster-id"}
CHECKPOINT_DIR_KEYS = ("execution.checkpointing.dir", "state.checkpoints.dir")  # Flink 2 key, its deprecated one
SAVEPOINT_DIR_KEYS = ("execution.checkpointing.savepoint-dir", "state.savepoints.dir")
# The operator's own containers, which podTemplate containers are merged into by this name (the operator's docs).
MAIN_CONTAINER = "flink-main-container"

# Keys jobs/runtime.py sets (execution_target "local", as the ConfigMap has it) that the manifest must set to the
# same value (durations compared as durations), and the ones not compared, with the reason.
SHARED_WITH_RUNTIME = (
    "python.execution-mode",
    "execution.checkpointing.interval",
    "execution.checkpointing.mode",
    "execution.checkpointing.dir",
    "execution.checkpointing.externalized-checkpoint-retention",
    "restart-strategy.type",
    "restart-strategy.fixed-delay.attempts",
    "restart-strategy.fixed-delay.delay",
    "table.exec.uid.generation",
    "metrics.reporter.prom.factory.class",
    "metrics.reporter.prom.port",
    "metrics.reporter.prom.filter.includes",
    "metrics.reporter.prom.filterLabelValueCharacters",
    "taskmanager.memory.managed.size",
    "pipeline.object-reuse",
    "state.backend.type",
    "state.backend.incremental",
    "state.backend.rocksdb.metrics.block-cache-usage",
    "state.changelog.enabled",
    "state.changelog.storage",
    "state.changelog.dstl.dfs.base-path",
    "s3.endpoint.region",
    "s3.path.style.access",
    "s3.directory.marker.retention",
)
NOT_COMPARED = {
    "pipeline.name": "the job's name, from LAKEGATE_JOB_NAME",
    "pipeline.jars": "paths in the image (LAKEGATE_ARTIFACTS_DIR), found by the job",
    "parallelism.default": "spec.job.parallelism (compared separately)",
    "python.executable": "sys.executable here; the manifest names the image's interpreter",
    "python.client.executable": "likewise",
    "python.pythonpath": "the image's site-packages, found by the job",
    "rest.bind-address": "a MiniCluster's REST API; the operator's cluster has its own",
    "rest.address": "likewise",
    "rest.bind-port": "likewise",
    "io.tmp.dirs": "a MiniCluster's working files under the home; the pods keep Flink's own (their local disk)",
}
DURATION_KEYS = {"execution.checkpointing.interval", "restart-strategy.fixed-delay.delay"}
SECRET_WORDS = ("SALT", "PASSWORD", "SECRET", "TOKEN", "CREDENTIAL")
PLACEHOLDER = "CHANGE-ME"
# Test stand-ins for the Secret's values (the example's placeholders are refused by Settings, on purpose).
TEST_SECRETS = {
    "LAKEGATE_PII_SALT": "unit-test-salt-0123456789abcdef",
    "LAKEGATE_REGISTRY_URL": "https://user:password@registry.example.com/apis/ccompat/v7",
    "LAKEGATE_KAFKA_SASL_PASSWORD": "unit-test-kafka-password",
    "LAKEGATE_CATALOG_URI": "postgresql://lakegate:unit-test-password@postgres.example.com:5432/lakegate",
    "LAKEGATE_CATALOG_TOKEN": "",
    "LAKEGATE_CATALOG_CREDENTIAL": "",
    "LAKEGATE_S3_SECRET_ACCESS_KEY": "unit-test-s3-secret",
}


# ---- helpers -------------------------------------------------------------------------------------------------
def load(path: Path) -> dict[str, Any]:
    documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    assert len(documents) == 1, f"{path.name}: one document expected, found {len(documents)}"
    assert isinstance(documents[0], dict), path.name
    return documents[0]


def deployment() -> dict[str, Any]:
    return load(DEPLOYMENT)


def spec() -> dict[str, Any]:
    value = deployment()["spec"]
    assert isinstance(value, dict)
    return value


def flink_conf() -> dict[str, Any]:
    value = spec()["flinkConfiguration"]
    assert isinstance(value, dict)
    return value


def configmap_data() -> dict[str, Any]:
    value = load(CONFIGMAP)["data"]
    assert isinstance(value, dict)
    return value


def pod_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod template of the deployment: spec.podTemplate applies to both components."""
    s = spec()
    if "podTemplate" in s:
        yield "spec.podTemplate", s["podTemplate"]
    for component in ("jobManager", "taskManager"):
        if "podTemplate" in s.get(component, {}):
            yield f"spec.{component}.podTemplate", s[component]["podTemplate"]


def containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for where, template in pod_templates():
        pod_spec = template.get("spec", {})
        for kind in ("initContainers", "containers"):
            for container in pod_spec.get(kind, []):
                yield f"{where}.{kind}[{container.get('name')}]", container


def main_container() -> dict[str, Any]:
    found = [c for _, c in containers() if c.get("name") == MAIN_CONTAINER]
    assert len(found) == 1, f"exactly one {MAIN_CONTAINER} expected in spec.podTemplate"
    return found[0]


def env_entries() -> Iterator[tuple[str, dict[str, Any]]]:
    for where, container in containers():
        for entry in container.get("env", []):
            yield where, entry


def known_env_names() -> set[str]:
    return {ENV_PREFIX + key.upper() for key in Settings.flat_keys()}


# Not settings: the object store's keys under the names the JVMs' AWS SDKs read (lakegate.objectstore.jvm_environment
# sets the same names for the JVMs lakegate starts), each taken from the setting it copies.
AWS_SDK_ENV = {
    "AWS_ACCESS_KEY_ID": "LAKEGATE_S3_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY": "LAKEGATE_S3_SECRET_ACCESS_KEY",
}


def masked_env_names() -> set[str]:
    """The settings `lakegate settings` hides: whatever Settings.masked() does not print as it is."""
    probe = Settings.load(
        env={},
        registry_url="https://user:password@registry.example.com/x",
        pii_salt="a-probe-salt-of-16-bytes",
        catalog_uri="postgresql://user:password@db.example.com:5432/x",
    )
    plain = {key: str(value.reveal() if isinstance(value, Secret) else value) for key, value in probe.flat().items()}
    return {ENV_PREFIX + key.upper() for key, shown in probe.masked().items() if shown != plain[key]}


def secret_looking(name: str) -> bool:
    return any(word in name for word in SECRET_WORDS) or name in masked_env_names()


def pod_environment() -> dict[str, str]:
    """What the job's processes see: the ConfigMap, and the Secret's keys with test values."""
    env = {str(k): str(v) for k, v in configmap_data().items()}
    for _, entry in env_entries():
        name = entry["name"]
        if name in AWS_SDK_ENV:
            continue  # not a setting: a copy of one for the JVMs (test_the_jvms_get_the_object_stores_keys...)
        env[name] = TEST_SECRETS[name] if "valueFrom" in entry else str(entry["value"])
    return env


def millis(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*(ms|s|min|m|h)?\s*", text)
    assert match, f"not a Flink duration: {text!r}"
    unit = {"ms": 1, None: 1, "s": 1000, "min": 60_000, "m": 60_000, "h": 3_600_000}[match.group(2)]
    return int(match.group(1)) * unit


def memory_bytes(text: str) -> int:
    """Flink's MemorySize or a Kubernetes quantity, as the operator's FlinkConfigBuilder accepts them."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?", text.strip(), re.IGNORECASE)
    assert match, f"not a memory size: {text!r}"
    unit = (match.group(2) or "b").lower().rstrip("b").replace("i", "") or "b"
    factor = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[unit]
    return int(float(match.group(1)) * factor)


class RecordingConfiguration:
    """Stands in for pyflink.common.Configuration, whose constructor starts a JVM."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def set_string(self, key: str, value: str) -> None:
        self.values[key] = value


def runtime_configuration(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> dict[str, str]:
    def no_jvm(*_: object, **__: object) -> None:
        raise AssertionError("this test would start a JVM")

    monkeypatch.setattr(pyflink.java_gateway, "launch_gateway", no_jvm)
    monkeypatch.setattr(jobs_runtime, "Configuration", RecordingConfiguration)
    monkeypatch.setattr(jobs_runtime.jvm, "pipeline_jars", lambda _settings: [])
    conf = jobs_runtime.flink_configuration(settings)
    assert isinstance(conf, RecordingConfiguration)
    return conf.values


# ---- the files -----------------------------------------------------------------------------------------------
def test_every_manifest_parses_and_has_the_expected_kind() -> None:
    assert {p.name for p in K8S.glob("*.y*ml")} == set(EXPECTED)
    for name, (api_version, kind) in EXPECTED.items():
        document = load(K8S / name)
        assert (document.get("apiVersion"), document.get("kind")) == (api_version, kind), name
        assert document["metadata"]["name"], name
        # Applied to whatever namespace `kubectl -n` names: none is hard-coded, so they all land together.
        assert "namespace" not in document["metadata"], name
    assert (K8S / "README.md").is_file()


def test_the_readme_covers_every_manifest_and_the_placeholders() -> None:
    text = (K8S / "README.md").read_text(encoding="utf-8")
    for name in EXPECTED:
        assert name in text, name
    assert (
        "ghcr.io/example/lakegate" in text
        and "s3://lakegate-flink-state" in text
        and "s3://lakegate-lake" in text
        and PLACEHOLDER in text
    )


# ---- the FlinkDeployment against the operator's CRD and validator -------------------------------------------
def test_the_deployment_uses_only_fields_the_crd_defines_with_their_types() -> None:
    s = spec()
    assert set(s) <= set(CRD_SPEC_TYPES), f"unknown spec keys: {set(s) - set(CRD_SPEC_TYPES)}"
    for key, value in s.items():
        assert isinstance(value, CRD_SPEC_TYPES[key]), f"spec.{key}: {type(value).__name__}"
    job = s["job"]
    assert set(job) <= set(CRD_JOB_TYPES), f"unknown spec.job keys: {set(job) - set(CRD_JOB_TYPES)}"
    for key, value in job.items():
        expected = CRD_JOB_TYPES[key]
        assert isinstance(value, expected) and (expected is bool or not isinstance(value, bool)), (
            f"spec.job.{key}: {type(value).__name__}"
        )
    assert all(isinstance(arg, str) for arg in job["args"])
    for component in ("jobManager", "taskManager"):
        assert set(s[component]) <= CRD_COMPONENT_KEYS, component
        resource = s[component]["resource"]
        assert set(resource) <= set(CRD_RESOURCE_TYPES), component
        for key, value in resource.items():
            assert isinstance(value, CRD_RESOURCE_TYPES[key]) and not isinstance(value, bool), f"{component}.{key}"


def test_the_deployment_enums_are_valid_and_the_flink_version_is_the_pinned_one() -> None:
    s = spec()
    assert s["flinkVersion"] in CRD_FLINK_VERSIONS
    major, minor = importlib.metadata.version("apache-flink").split(".")[:2]
    assert s["flinkVersion"] == f"v{major}_{minor}", "flinkVersion must match the apache-flink pin"
    assert s.get("mode", "native") in CRD_MODES
    assert s["job"]["upgradeMode"] in CRD_UPGRADE_MODES
    assert s["job"].get("state", "running") in CRD_JOB_STATES


def test_the_deployment_passes_what_the_operator_validator_requires() -> None:
    d, s, conf = deployment(), spec(), flink_conf()
    assert VALID_NAME.fullmatch(d["metadata"]["name"])
    assert s.get("flinkVersion")
    assert not FORBIDDEN_KEYS & set(conf)
    if s["job"]["upgradeMode"] != "stateless":
        assert any(str(conf.get(k, "")).strip() for k in CHECKPOINT_DIR_KEYS), "checkpoint directory required"
    if s["job"]["upgradeMode"] == "savepoint":
        assert any(str(conf.get(k, "")).strip() for k in SAVEPOINT_DIR_KEYS), "savepoint directory required"
    assert s["job"]["parallelism"] > 0
    for component in ("jobManager", "taskManager"):
        assert s[component]["resource"]["memory"].strip(), f"{component} memory"
        assert s[component].get("replicas", 1) >= 1
    # The last-state fallback of savepoint upgrades and last-state itself restore through the HA metadata.
    if (
        s["job"]["upgradeMode"] == "last-state"
        or conf.get("kubernetes.operator.job.upgrade.last-state-fallback.enabled", "true") == "true"
    ):
        assert conf.get("high-availability.type") == "kubernetes" and conf.get("high-availability.storageDir")


def test_resources_are_well_formed_and_modest() -> None:
    s = spec()
    for component, low, high in (("jobManager", 1 << 30, 4 << 30), ("taskManager", 1536 << 20, 8 << 30)):
        resource = s[component]["resource"]
        assert low <= memory_bytes(resource["memory"]) <= high, f"{component} memory {resource['memory']}"
        assert 0 < resource["cpu"] <= 4, f"{component} cpu"
    assert memory_bytes("2Gi") == memory_bytes("2048m") == 2 << 30 and memory_bytes("1.5g") == 1536 << 20


def test_flink_configuration_is_flat_and_every_value_a_string() -> None:
    for key, value in flink_conf().items():
        assert isinstance(key, str) and "." in key, key
        assert isinstance(value, str), f"{key}: {value!r} is {type(value).__name__}; quote it"


def test_the_job_is_the_python_ingest_module_run_by_pyflinks_driver() -> None:
    job, conf = spec()["job"], flink_conf()
    version = importlib.metadata.version("apache-flink")
    assert job["jarURI"] == f"local:///opt/flink/opt/flink-python-{version}.jar"
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    assert job["args"] == ["-pym", "jobs.ingest"]
    assert "def main(" in (REPO / "jobs" / "ingest.py").read_text(encoding="utf-8")
    assert conf["python.client.executable"] == conf["python.executable"]


def test_the_pod_template_uses_only_fields_of_the_pod_schema() -> None:
    def walk(node: Any, path: tuple[str, ...], where: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, (*path, "[]"), where)
            return
        if not isinstance(node, dict) or path not in POD_KEYS:
            return
        unknown = set(node) - POD_KEYS[path]
        assert not unknown, f"{where} {'.'.join(path)}: unknown keys {unknown}"
        for key, value in node.items():
            walk(value, (*path, key), where)

    templates = dict(pod_templates())
    assert "spec.podTemplate" in templates, "settings and volume must reach both components"
    for where, template in templates.items():
        walk(template, (), where)
        for field in ("labels", "annotations"):
            for key, value in template.get("metadata", {}).get(field, {}).items():
                assert isinstance(value, str), f"{where} {field} {key}: quote it"
    main_container()


# ---- settings and secrets ------------------------------------------------------------------------------------
def test_every_environment_variable_is_a_lakegate_setting() -> None:
    known = known_env_names()
    data = configmap_data()
    assert set(data) <= known, f"not settings: {set(data) - known}"
    assert all(isinstance(v, str) for v in data.values()), "ConfigMap values must be strings"
    names = [entry["name"] for _, entry in env_entries() if entry["name"] not in AWS_SDK_ENV]
    assert set(names) <= known, f"not settings: {set(names) - known}"
    assert len(names) == len(set(names)), "an env var is set twice"
    assert not set(names) & set(data), "set both in env and the ConfigMap (env wins, silently)"
    for _, container in containers():
        for source in container.get("envFrom", []):
            assert set(source) == {"configMapRef"}, "settings come from the one ConfigMap (no prefix, no other source)"
            assert source["configMapRef"]["name"] == load(CONFIGMAP)["metadata"]["name"]
    # The pods' whole environment is valid settings (with real secrets in place of the placeholders).
    settings = Settings.load(env=pod_environment())
    assert settings.cluster.execution_target == "local" and not settings.job.drain and not settings.cluster.restore_from


def test_secrets_come_from_the_secret_and_never_as_plain_values() -> None:
    secret = load(SECRET)
    secret_keys = set(secret["stringData"])
    assert "LAKEGATE_PII_SALT" in masked_env_names() and "LAKEGATE_REGISTRY_URL" in masked_env_names()
    assert not {k for k in configmap_data() if secret_looking(k)}, "a secret in the ConfigMap"
    from_secret = set()
    for where, entry in env_entries():
        if secret_looking(entry["name"]):
            assert "value" not in entry, f"{where}: {entry['name']} as a plain value"
            ref = entry["valueFrom"]["secretKeyRef"]
            assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret_keys, where
            assert not ref.get("optional", False), f"{where}: {entry['name']} must not be optional"
            if entry["name"] not in AWS_SDK_ENV:
                from_secret.add(entry["name"])
    # Every secret setting reaches the pods, and the Secret holds nothing else.
    assert from_secret == {n for n in known_env_names() if secret_looking(n)} == secret_keys


def test_the_example_secret_holds_placeholders_only_and_the_job_refuses_them() -> None:
    secret = load(SECRET)
    assert "example" in SECRET.name and "EXAMPLE" in SECRET.read_text(encoding="utf-8")
    assert secret["type"] == "Opaque" and "data" not in secret
    assert all(PLACEHOLDER in value for value in secret["stringData"].values())
    env = {**{str(k): str(v) for k, v in configmap_data().items()}, **secret["stringData"]}
    with pytest.raises(SettingsError, match="pii_salt"):
        Settings.load(env=env)


def test_no_argument_carries_settings_or_secrets() -> None:
    secret_values = {v for v in (*load(SECRET)["stringData"].values(), *TEST_SECRETS.values()) if v}
    args = [str(a) for a in spec()["job"]["args"]]
    args += [str(a) for _, c in containers() for a in (*c.get("args", []), *c.get("command", []))]
    for arg in args:
        assert ENV_PREFIX not in arg.upper() and PLACEHOLDER not in arg, arg
        assert not any(word in arg.upper() for word in SECRET_WORDS), arg
        assert not re.search(r"://[^/\s]*@", arg), f"credentials in a URL: {arg}"
        assert arg not in secret_values


# ---- agreement with jobs/runtime.py and the settings ---------------------------------------------------------
def test_the_flink_configuration_agrees_with_what_jobs_runtime_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = flink_conf()
    settings = Settings.load(env=pod_environment())
    runtime = runtime_configuration(monkeypatch, settings)
    assert conf["metrics.reporter.prom.filter.includes"] == REPORTER_INCLUDES
    unclassified = set(runtime) - set(SHARED_WITH_RUNTIME) - set(NOT_COMPARED)
    assert not unclassified, f"jobs/runtime.py sets {unclassified}: add them to the manifest or NOT_COMPARED"
    for key in SHARED_WITH_RUNTIME:
        assert key in runtime, f"jobs/runtime.py no longer sets {key}"
        if key in DURATION_KEYS:
            assert millis(conf[key]) == millis(runtime[key]), key
        else:
            assert conf[key] == runtime[key], f"{key}: manifest {conf[key]!r}, jobs/runtime.py {runtime[key]!r}"
    assert runtime["parallelism.default"] == str(spec()["job"]["parallelism"])
    assert runtime["pipeline.name"] == settings.job.name


def test_flink_state_and_the_lake_are_in_buckets_and_no_pod_shares_a_disk() -> None:
    conf = flink_conf()
    settings = Settings.load(env=pod_environment())
    assert settings.objectstore.warehouse.startswith("s3://") and settings.catalog.kind != "sqlite"
    checkpoints = settings.objectstore.checkpoints
    assert conf["execution.checkpointing.dir"] == f"{checkpoints}/checkpoints"
    for key in ("execution.checkpointing.savepoint-dir", "high-availability.storageDir"):
        assert conf[key].startswith(checkpoints + "/"), f"{key} is not under LAKEGATE_S3_CHECKPOINTS"
    assert conf["execution.checkpointing.externalized-checkpoint-retention"] == "RETAIN_ON_CANCELLATION"
    # Each pod's home is its own: no persistent volume, nothing on a shared disk.
    volumes = [v for _, t in pod_templates() for v in t["spec"].get("volumes", [])]
    assert volumes and all(set(v) == {"name", "emptyDir"} for v in volumes), volumes
    mounts = {m["mountPath"] for m in main_container()["volumeMounts"]}
    assert configmap_data()["LAKEGATE_HOME"] in mounts


def test_the_jvms_get_the_object_stores_keys_under_the_aws_sdks_names() -> None:
    entries = {entry["name"]: entry for _, entry in env_entries()}
    assert set(AWS_SDK_ENV) <= set(entries)
    settings = Settings.load(env=pod_environment())
    assert set(jvm_environment(settings)) == set(AWS_SDK_ENV), "the names lakegate gives the JVMs it starts"
    key_id = entries["AWS_ACCESS_KEY_ID"]["valueFrom"]["configMapKeyRef"]
    assert (key_id["name"], key_id["key"]) == (load(CONFIGMAP)["metadata"]["name"], AWS_SDK_ENV["AWS_ACCESS_KEY_ID"])
    secret = entries["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]
    assert (secret["name"], secret["key"]) == (load(SECRET)["metadata"]["name"], AWS_SDK_ENV["AWS_SECRET_ACCESS_KEY"])


def test_the_prometheus_port_is_the_reporters_everywhere() -> None:
    conf, container = flink_conf(), main_container()
    port = int(conf["metrics.reporter.prom.port"])
    named = [p for p in container["ports"] if p.get("name") == "metrics"]
    assert len(named) == 1 and named[0]["containerPort"] == port
    annotations = spec()["podTemplate"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(port)
    assert configmap_data()["LAKEGATE_METRICS_PORT"] == str(port)
    assert conf["metrics.reporter.prom.factory.class"] == (
        "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
    )
    assert conf["metrics.reporter.prom.filterLabelValueCharacters"] == "false"


def test_the_podmonitor_selects_the_deployments_pods_on_their_metrics_port() -> None:
    monitor = load(PODMONITOR)["spec"]
    labels = spec()["podTemplate"]["metadata"]["labels"]
    selector = monitor["selector"]
    assert set(selector) == {"matchLabels"} and selector["matchLabels"]
    assert selector["matchLabels"].items() <= labels.items()
    ports = {p["name"] for p in main_container()["ports"]}
    endpoints = monitor["podMetricsEndpoints"]
    assert endpoints and all(e["port"] in ports for e in endpoints)
    assert "namespaceSelector" not in monitor, "same namespace as the deployment"


def test_rocksdb_state_gets_more_managed_memory_than_the_heap_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """RocksDB's block cache lives in managed memory; dedupe's lookups of new ids need it (bench/README.md)."""
    rocksdb = Settings.load(env={**pod_environment(), "LAKEGATE_STATE_BACKEND": "rocksdb"})
    heap = Settings.load(env={**pod_environment(), "LAKEGATE_STATE_BACKEND": "hashmap"})
    assert runtime_configuration(monkeypatch, rocksdb)["taskmanager.memory.managed.size"] == "768m"
    assert runtime_configuration(monkeypatch, heap)["taskmanager.memory.managed.size"] == "128m"
