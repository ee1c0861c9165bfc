"""The local session cluster's configuration and checkpoint lookup (no JVM)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from jobs import runtime
from lakegate import cluster, jvm
from lakegate.errors import SettingsError
from lakegate.settings import Settings

from .support import REPO
from .test_k8s_manifests import runtime_configuration


def _settings(tmp_path: Path) -> Settings:
    return Settings.load(env={}, home=tmp_path, cluster_rest_url="http://127.0.0.1:28100", cluster_rpc_port=28101)


def test_the_cluster_listens_on_loopback_only_on_its_ports(tmp_path: Path) -> None:
    conf = cluster.configuration(_settings(tmp_path))
    for key in (
        "jobmanager.bind-host",
        "jobmanager.rpc.address",
        "taskmanager.bind-host",
        "taskmanager.host",
        "rest.address",
        "rest.bind-address",
    ):
        assert conf[key] == "127.0.0.1", key
    assert conf["rest.port"] == 28100 and conf["jobmanager.rpc.port"] == 28101


def test_the_cluster_keeps_checkpoints_and_savepoints_under_its_folder_and_reports_metrics(tmp_path: Path) -> None:
    conf = cluster.configuration(_settings(tmp_path))
    assert conf["execution.checkpointing.dir"] == (tmp_path / "cluster" / "checkpoints").as_uri()
    assert conf["execution.checkpointing.savepoint-dir"] == (tmp_path / "cluster" / "savepoints").as_uri()
    assert conf["execution.checkpointing.externalized-checkpoint-retention"] == "RETAIN_ON_CANCELLATION"
    assert conf["metrics.reporter.prom.filter.includes"] == "*.lakegate*:*"
    # The distribution's defaults survive (the JVM module flags Flink needs on Java 17).
    assert "--add-opens" in str(conf["env.java.opts.all"])


def test_latest_checkpoint_is_the_newest_complete_one(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert cluster.latest_checkpoint(settings) is None
    root = tmp_path / "cluster" / "checkpoints"
    for job, chk, mtime in (("a" * 32, "chk-3", 100), ("b" * 32, "chk-7", 300), ("b" * 32, "chk-8", 200)):
        (root / job / chk).mkdir(parents=True)
        (root / job / chk / "_metadata").write_bytes(b"x")
        os.utime(root / job / chk / "_metadata", (mtime, mtime))  # written as the checkpoint completes
    (root / ("b" * 32) / "chk-9").mkdir()  # in progress: no _metadata yet
    assert cluster.latest_checkpoint(settings) == str(root / ("b" * 32) / "chk-7" / "_metadata")


def test_execution_target_and_cluster_url_are_validated() -> None:
    with pytest.raises(SettingsError, match="execution_target"):
        Settings.load(env={"LAKEGATE_EXECUTION_TARGET": "yarn"})
    with pytest.raises(SettingsError, match="cluster_rest_url"):
        Settings.load(env={"LAKEGATE_CLUSTER_REST_URL": "127.0.0.1:8081"})


def test_several_taskmanagers_are_services_of_their_own_and_all_are_stopped(tmp_path: Path) -> None:
    one = _settings(tmp_path)
    assert [s.name for s in cluster._services(one)] == ["jobmanager", "taskmanager"]
    three = one.replace(cluster_taskmanagers=3, cluster_slots=1)
    assert [s.name for s in cluster._services(three)] == ["jobmanager", "taskmanager", "taskmanager-2", "taskmanager-3"]
    # `down` with fewer configured than were started still finds the others by their pid files.
    run = tmp_path / "cluster" / "run"
    run.mkdir(parents=True)
    (run / "taskmanager-3.pid").write_text("1\n")
    assert [s.name for s in cluster._all_services(one)] == ["jobmanager", "taskmanager", "taskmanager-3"]


def test_each_taskmanager_needs_a_metrics_port_of_its_own(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="too few ports for a JobManager and 2 TaskManagers"):
        _settings(tmp_path).replace(cluster_taskmanagers=2, metrics_port="9249-9250")
    with pytest.raises(SettingsError, match="cluster_taskmanagers must be at least 1"):
        _settings(tmp_path).replace(cluster_taskmanagers=0)
    assert _settings(tmp_path).replace(cluster_taskmanagers=2, metrics_port="9249-9251").cluster.taskmanagers == 2


def test_service_pids_name_only_running_cluster_processes(tmp_path: Path) -> None:
    settings = _settings(tmp_path).replace(cluster_taskmanagers=2, cluster_slots=1)
    run = tmp_path / "cluster" / "run"
    run.mkdir(parents=True)
    (run / "jobmanager.pid").write_text(f"{os.getpid()}\n")  # this process: its command line lacks the home
    (run / "taskmanager.pid").write_text("not a pid\n")
    assert cluster.service_pids(settings) == []


def test_tasks_run_on_the_same_jvm_options_locally_on_the_cluster_and_on_kubernetes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cluster.configuration(_settings(tmp_path))["env.java.opts.taskmanager"] == jvm.TASK_JVM_OPTIONS
    manifest = yaml.safe_load((REPO / "deploy" / "k8s" / "flinkdeployment-ingest.yaml").read_text())
    assert manifest["spec"]["flinkConfiguration"]["env.java.opts.taskmanager"] == jvm.TASK_JVM_OPTIONS
    # The local job's JVM (PyFlink reads $JVM_ARGS): the heap setting and the options, the user's last.
    monkeypatch.setenv("JVM_ARGS", "-XX:+UseG1GC")
    for name in ("HADOOP_CLASSPATH", "FLINK_LOG_DIR"):  # set by prepare_process too: restored after the test
        monkeypatch.setenv(name, "")
    monkeypatch.setattr(jvm, "system_classpath", lambda _settings: "")
    settings = Settings.load(env={}, home=tmp_path, local_heap_mb=1024)
    runtime.prepare_process(settings)
    assert os.environ["JVM_ARGS"] == f"-Xms1024m -Xmx1024m {jvm.TASK_JVM_OPTIONS} -XX:+UseG1GC"


def test_a_local_jobs_working_files_live_under_the_home_and_a_cluster_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = Settings.load(env={}, home=tmp_path)
    conf = runtime_configuration(monkeypatch, local)
    assert conf["io.tmp.dirs"] == str(tmp_path / "tmp") == str(runtime.local_tmp_dir(local))
    remote = local.replace(execution_target="remote", cluster_rest_url="http://127.0.0.1:18100")
    assert "io.tmp.dirs" not in runtime_configuration(monkeypatch, remote), "a cluster keeps its own (cluster.py)"


def test_the_local_jvm_args_replace_an_earlier_calls_instead_of_repeating_them(tmp_path: Path) -> None:
    """A child process inherits $JVM_ARGS and prepares its own job: lakegate's options appear once, the
    current heap's, and the user's stay last (they win)."""
    small, large = (Settings.load(env={}, home=tmp_path, local_heap_mb=mb) for mb in (512, 2048))
    user = "-javaagent:/a.jar=x,y -Xmx4g"
    once = runtime.local_jvm_args(small, user)
    assert once == f"-Xms512m -Xmx512m {jvm.TASK_JVM_OPTIONS} {user}"
    assert runtime.local_jvm_args(small, once) == once
    assert runtime.local_jvm_args(large, runtime.local_jvm_args(small, once)) == (
        f"-Xms2048m -Xmx2048m {jvm.TASK_JVM_OPTIONS} {user}"
    )
    assert runtime.local_jvm_args(small, "") == f"-Xms512m -Xmx512m {jvm.TASK_JVM_OPTIONS}"


def test_taskmanagers_keep_the_jobs_state_changes_in_files_under_the_cluster(tmp_path: Path) -> None:
    """The jobs enable the changelog state backend; its storage is the TaskManager's setting (in memory by
    default, which sends every change with each checkpoint acknowledgement)."""
    conf = cluster.configuration(_settings(tmp_path))
    assert conf["state.changelog.storage"] == "filesystem"
    assert conf["state.changelog.dstl.dfs.base-path"] == (tmp_path / "cluster" / "changelog").as_uri()
