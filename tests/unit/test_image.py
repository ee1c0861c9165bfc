"""deploy/image/Dockerfile keeps in step with the pins `make setup` uses (requirements.lock, pyproject.toml,
deploy/pom.xml's artifact groups) and with what the Kubernetes manifests expect of the image. Pure text: the
image is not built here (no container runtime on this machine)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from lakegate import jvm
from lakegate.settings import Settings

from .support import REPO

DOCKERFILE = REPO / "deploy" / "image" / "Dockerfile"
K8S = REPO / "deploy" / "k8s"


def _text() -> str:
    # Continuation lines joined: each instruction on one line.
    return re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())


def _args() -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", _text(), re.MULTILINE))


def _stages() -> list[str]:
    return re.findall(r"^FROM (\S+)", _text(), re.MULTILINE)


def _pinned(name: str) -> str:
    found = re.findall(rf"^{re.escape(name)}==(\S+)$", (REPO / "requirements.lock").read_text(), re.MULTILINE)
    assert len(found) == 1, f"{name} is pinned once in requirements.lock"
    return found[0]


def _deployment() -> dict[str, object]:
    loaded = yaml.safe_load((K8S / "flinkdeployment-ingest.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_image_is_the_flink_release_pyflink_is_pinned_to_on_java_17() -> None:
    flink = _pinned("apache-flink")
    assert _args()["FLINK_VERSION"] == flink
    assert _stages()[-1] == "flink:${FLINK_VERSION}-java17"
    spec = _deployment()["spec"]
    assert isinstance(spec, dict)
    major, minor, _ = flink.split(".")
    assert spec["flinkVersion"] == f"v{major}_{minor}", "the operator's flinkVersion names the same release"
    assert spec["job"]["jarURI"] == f"local:///opt/flink/opt/flink-python-{flink}.jar"
    assert 'cp "/opt/flink/opt/flink-python-${FLINK_VERSION}.jar" /opt/flink/lib/' in _text()


def test_both_stages_run_the_python_pyproject_requires() -> None:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    low, high = re.fullmatch(r">=(\d+\.\d+),<(\d+\.\d+)", requires).groups()  # type: ignore[union-attr]
    version = _args()["PYTHON_VERSION"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "one patch release, the same in both stages"
    assert version.rsplit(".", 1)[0] == low and int(high.split(".")[1]) == int(low.split(".")[1]) + 1
    assert _stages()[0] == "python:${PYTHON_VERSION}-slim-bookworm"
    assert 'uv python install "${PYTHON_VERSION}"' in _text()
    assert 'uv venv --python "${PYTHON_VERSION}" /opt/lakegate/venv' in _text()


def test_every_install_is_constrained_by_the_lock_file() -> None:
    installs = re.findall(r"(?:pip|uv pip) install [^&\n]*", _text())
    lakegate_installs = [line for line in installs if "uv==" not in line]
    assert len(lakegate_installs) == 2, installs
    assert all("-c requirements.lock" in line for line in lakegate_installs), lakegate_installs
    assert re.fullmatch(r"\d+\.\d+\.\d+", _args()["UV_VERSION"]), "uv is pinned too"
    assert 'pip install --no-cache-dir "uv==${UV_VERSION}"' in _text()


def test_the_image_holds_every_package_pyproject_installs() -> None:
    found = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {pattern.rstrip("*") for pattern in found["include"]}
    assert packages == {"lakegate", "udfs", "jobs"}
    text = _text()
    for stage in text.split("\nFROM ")[1:]:
        copied = set(re.findall(r"^COPY (\w+) \1$", stage, re.MULTILINE))
        assert packages <= copied, f"packages not copied into a stage: {packages - copied}"
        assert "COPY pyproject.toml requirements.lock README.md ./" in stage
    assert "COPY jvm jvm" in text and "COPY deploy/pom.xml deploy/pom.xml" in text, "setup's inputs"


def test_the_jvm_groups_the_job_needs_come_from_lakegate_setup() -> None:
    text = _text()
    assert "/src/.venv/bin/lakegate setup" in text, "the pinned pom's artifacts, fetched as `make setup` does"
    groups = set(re.findall(r"^COPY --from=build /opt/lakegate/jvm/(\w+) /opt/lakegate/jvm/\1$", text, re.MULTILINE))
    assert groups == {"flink", "hadoop", "s3", "lakegate"}
    assert groups - {"lakegate"} <= set(jvm.GROUPS)
    # Flink's S3 filesystem as a plugin of the image's own Flink (a local job takes the s3 group's instead).
    assert 'cp "/opt/flink/opt/flink-s3-fs-hadoop-${FLINK_VERSION}.jar" /opt/flink/plugins/s3-fs-hadoop/' in text
    # What jvm.system_classpath puts on a local job's system classpath, on the cluster's: Hadoop and the drivers.
    drivers = {f"{prefix}*.jar" for prefix in jvm.JDBC_DRIVERS}
    assert "cp /opt/lakegate/jvm/hadoop/*.jar /opt/flink/lib/" in text
    assert all(f"/opt/lakegate/jvm/flink/{d}" in text for d in drivers), drivers


def test_the_image_puts_things_where_the_manifests_look() -> None:
    configmap = yaml.safe_load((K8S / "configmap-lakegate.yaml").read_text())["data"]
    env = dict(re.findall(r"(LAKEGATE_\w+)=(\S+)", _text().split("FROM flink:", 1)[1]))
    assert env == {k: configmap[k] for k in ("LAKEGATE_ARTIFACTS_DIR", "LAKEGATE_SCHEMAS_DIR")}
    assert f"COPY schemas {configmap['LAKEGATE_SCHEMAS_DIR']}" in _text()
    conf = _deployment()["spec"]["flinkConfiguration"]  # type: ignore[index]
    python = Path(conf["python.executable"])
    assert conf["python.client.executable"] == str(python)
    assert f'uv venv --python "${{PYTHON_VERSION}}" {python.parent.parent}' in _text()
    # The settings the image's paths stand for load: an artifacts folder and a schemas folder.
    settings = Settings.load(env={k: configmap[k] for k in env})
    assert str(settings.paths.jvm_dir) == configmap["LAKEGATE_ARTIFACTS_DIR"]
    assert str(settings.paths.schemas_dir) == configmap["LAKEGATE_SCHEMAS_DIR"]
