"""Which of the s3 group's jars a job carries (lakegate.jvm.s3_jars): none for a lake in a folder; for a lake on
S3, Iceberg's AWS bundle with the job's pipeline jars and Flink's S3 filesystem first on the system classpath."""

from __future__ import annotations

import os
from pathlib import Path

from lakegate import jvm
from lakegate.settings import Settings

_JARS = {
    "flink": ["iceberg-flink-runtime-2.1-1.11.0.jar", "sqlite-jdbc-3.50.3.0.jar"],
    "hadoop": ["hadoop-client-api-3.4.2.jar"],
    "s3": ["flink-s3-fs-hadoop-2.1.1.jar", "iceberg-aws-bundle-1.11.0.jar"],
    "lakegate": ["lakegate-flink-0123456789abcdef.jar"],
}


def _settings(tmp_path: Path, **changes: object) -> Settings:
    settings = Settings.load(env={}, home=tmp_path, artifacts_dir=tmp_path / "jvm", **changes)
    for group, names in _JARS.items():
        (tmp_path / "jvm" / group).mkdir(parents=True, exist_ok=True)
        for name in names:
            (tmp_path / "jvm" / group / name).write_bytes(b"PK")
    return settings


def _names(paths: list[Path] | str) -> list[str]:
    items = paths.split(os.pathsep) if isinstance(paths, str) else [str(p) for p in paths]
    return [Path(p).name for p in items]


def test_a_lake_in_a_folder_carries_no_s3_jar(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert jvm.s3_jars(settings, system=True) == jvm.s3_jars(settings, system=False) == []
    assert not any("s3" in name or "aws" in name for name in _names(jvm.system_classpath(settings)))


def test_a_lake_on_s3_ships_the_aws_bundle_and_puts_flinks_s3_filesystem_first(tmp_path: Path) -> None:
    settings = _settings(tmp_path, s3_warehouse="s3://lake/w")
    assert _names(jvm.s3_jars(settings, system=False)) == ["iceberg-aws-bundle-1.11.0.jar"]
    system = _names(jvm.system_classpath(settings))
    # First: the Hadoop its S3A code was built with must be the one whose defaults it reads.
    assert system[:2] == ["flink-s3-fs-hadoop-2.1.1.jar", "hadoop-client-api-3.4.2.jar"]
    assert "iceberg-aws-bundle-1.11.0.jar" not in system
