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
