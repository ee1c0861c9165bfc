"""lakegate.jvm.runtime_jar without sources (an installed image): the one jar `lakegate setup` built, or a clear error.

Compiling from `jvm/src` is exercised by every job test (tests/job/test_rowbytes.py first of all)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakegate import jvm
from lakegate.errors import SetupError
from lakegate.settings import Settings


def test_without_sources_the_built_jar_is_used_and_its_absence_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.load(env={}, home=tmp_path, artifacts_dir=tmp_path / "jvm")
    monkeypatch.setattr(jvm, "RUNTIME_SOURCES", tmp_path / "not-installed")
    with pytest.raises(SetupError, match=r"run `lakegate setup` from a lakegate checkout"):
        jvm.runtime_jar(settings)
    folder = settings.paths.jvm_dir / "lakegate"
    folder.mkdir(parents=True)
    built = folder / "lakegate-flink-0123456789abcdef.jar"
    built.write_bytes(b"PK")
    assert jvm.runtime_jar(settings) == built
    (folder / "lakegate-flink-fedcba9876543210.jar").write_bytes(b"PK")
    with pytest.raises(SetupError, match="2 built jars"):
        jvm.runtime_jar(settings)


def test_the_sources_ship_in_the_checkout() -> None:
    assert (jvm.RUNTIME_SOURCES / "io" / "lakegate" / "flink" / "AvroRowDecoder.java").is_file()


def _fake_artifacts(settings: Settings) -> None:
    for group, names in (
        ("flink", ["flink-connector-kafka-5.0.0-2.1.jar"]),
        ("hadoop", ["hadoop-client-api-3.4.2.jar"]),
    ):
        folder = settings.paths.jvm_dir / group
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            (folder / name).write_bytes(b"PK")


def test_sources_compile_against_flink_the_connectors_and_hadoop_into_a_jar_named_by_their_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.load(env={}, home=tmp_path, artifacts_dir=tmp_path / "jvm")
    _fake_artifacts(settings)
    sources = tmp_path / "src"
    (sources / "io").mkdir(parents=True)
    source = sources / "io" / "A.java"
    source.write_text("class A {}\n")
    monkeypatch.setattr(jvm, "RUNTIME_SOURCES", sources)
    compiled: list[tuple[Path, list[Path]]] = []

    def fake_compile(settings: Settings, sources: Path, target: Path, classpath: list[Path]) -> Path:
        compiled.append((target, classpath))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"PK")
        return target

    monkeypatch.setattr(jvm, "compile_jar", fake_compile)
    first = jvm.runtime_jar(settings)
    assert [target for target, _ in compiled] == [first]
    names = {p.name for p in compiled[0][1]}
    assert {"flink-connector-kafka-5.0.0-2.1.jar", "hadoop-client-api-3.4.2.jar"} <= names
    assert any(name.startswith("flink-dist-") for name in names)  # PyFlink's own Flink API
    assert jvm.runtime_jar(settings) == first and len(compiled) == 1  # built once per change
    source.write_text("class A { int x; }\n")
    second = jvm.runtime_jar(settings)
    assert second != first and len(compiled) == 2
    (settings.paths.jvm_dir / "flink" / "flink-connector-kafka-5.0.0-2.1.jar").rename(
        settings.paths.jvm_dir / "flink" / "flink-connector-kafka-5.0.1-2.1.jar"
    )
    assert jvm.runtime_jar(settings) not in (first, second)  # another pinned connector: another jar


def test_the_compile_classpath_needs_the_fetched_artifacts(tmp_path: Path) -> None:
    settings = Settings.load(env={}, home=tmp_path, artifacts_dir=tmp_path / "jvm")
    with pytest.raises(SetupError, match="run `lakegate setup`"):
        jvm.runtime_compile_classpath(settings)
