"""Shipping a job's Python code and contracts to a cluster (python.files) instead of reading this checkout."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import udfs
from jobs import runtime, worker
from lakegate.settings import Settings


def test_the_staged_folder_holds_the_packages_and_the_contracts_and_nothing_compiled(tmp_path: Path) -> None:
    settings = Settings.load(env={}, home=tmp_path)
    stage = runtime.stage_python_code(settings)
    for package in runtime.SHIPPED_PACKAGES:
        assert (stage / package / "__init__.py").is_file()
    assert sorted(p.name for p in (stage / "schemas").rglob("contract.toml")) == sorted(
        p.name for p in settings.paths.schemas_dir.rglob("contract.toml")
    )
    assert not list(stage.rglob("__pycache__")) and not list(stage.rglob("*.pyc"))
    (stage / "udfs" / "stale.py").write_text("")  # left from an older submission
    assert not (runtime.stage_python_code(settings) / "udfs" / "stale.py").exists()


def test_shipped_jobs_take_their_dependencies_from_the_clusters_python(tmp_path: Path) -> None:
    here = Settings.load(env={}, home=tmp_path, execution_target="remote", ship_python_code=True)
    options = runtime._shipped_python(here)
    assert options["python.files"] == str(tmp_path / "ship" / "lakegate-code")
    assert options["python.pythonpath"] == sysconfig.get_paths()["purelib"]  # a cluster on this machine
    remote = runtime._shipped_python(here.replace(cluster_python="/opt/venv/bin/python"))
    assert remote["python.executable"] == "/opt/venv/bin/python" and "python.pythonpath" not in remote


def test_workers_read_the_shipped_contracts_only_when_code_is_shipped(tmp_path: Path) -> None:
    local = Settings.load(env={}, home=tmp_path)
    assert worker.worker_schemas_dir(local) == local.paths.schemas_dir
    shipped = local.replace(execution_target="remote", ship_python_code=True)
    assert worker.worker_schemas_dir(shipped) == Path(udfs.__file__).resolve().parents[1] / "schemas"
