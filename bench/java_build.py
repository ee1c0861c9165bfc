"""Compile the benchmark's Java helper (bench/java) into a jar in the run's home, with the JDK lakegate uses.

Built at every benchmark start (a few seconds) rather than shipped: the repo holds no binaries, and the jar
always matches the source and the pinned Flink.
"""

from __future__ import annotations

from pathlib import Path

from lakegate import jvm
from lakegate.settings import Settings

SOURCE = Path(__file__).resolve().parent / "java"


def build_jar(settings: Settings, target: Path) -> Path:
    """javac + jar of every source under bench/java, against PyFlink's jars and the bench group's."""
    return jvm.compile_jar(settings, SOURCE, target, [*jvm.flink_compile_classpath(), *jvm.jars(settings, "bench")])
