"""Compile the benchmark's Java helper (bench/java) into a jar in the run's home, with the JDK lakegate uses.

Built at every benchmark start (a few seconds) rather than shipped: the repo holds no binaries, and the jar
always matches the source and the pinned Flink.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pyflink

from lakegate import jvm
from lakegate.settings import Settings

SOURCE = Path(__file__).resolve().parent / "java"


def build_jar(settings: Settings, target: Path) -> Path:
    """javac + jar of every source under bench/java, against PyFlink's jars and the bench group's."""
    bin_dir = Path(jvm.java_executable(settings)).resolve().parent
    flink_lib = Path(pyflink.__file__).parent / "lib"
    classpath = os.pathsep.join(str(j) for j in [*sorted(flink_lib.glob("*.jar")), *jvm.jars(settings, "bench")])
    sources = [str(s) for s in sorted(SOURCE.rglob("*.java"))]
    with tempfile.TemporaryDirectory(prefix="bench-javac-") as classes:
        subprocess.run([str(bin_dir / "javac"), "-nowarn", "-d", classes, "-cp", classpath, *sources],
                       check=True, capture_output=True, text=True)
        target.unlink(missing_ok=True)
        subprocess.run([str(bin_dir / "jar"), "--create", "--file", str(target), "-C", classes, ".",
                        "-C", str(SOURCE), "META-INF"], check=True, capture_output=True, text=True)
    return target
