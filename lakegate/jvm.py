"""The JVM side: fetch the pinned artifacts declared in ``deploy/pom.xml``, locate Java, build classpaths,
compile lakegate's own Java (``jvm/src``).

``ensure_artifacts`` runs Maven once per artifact group (a profile in the pom) into ``<home>/jvm/<group>``
and writes a stamp holding the pom's hash; a second call with the same pom is a no-op that costs no
Maven start and no download. ``runtime_jar`` compiles ``jvm/src`` (the ingest job's JVM half,
``io.lakegate.flink.ingest`` and ``.models``, which jobs/ingest.py wires in; and ``AvroRowDecoder``) with the
JDK's ``javac`` into a jar named after the sources' hash, once per change.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pyflink

from lakegate.errors import SetupError
from lakegate.logs import kv
from lakegate.settings import Settings

log = logging.getLogger(__name__)

GROUPS = ("flink", "hadoop", "kafka", "registry", "restcatalog", "objectstore", "s3", "bench")
_STAMP = ".lakegate-stamp"
_REGISTRY_COORDS = ("io/apicurio/apicurio-registry-app", "apicurio-registry-app-{v}-all.tar.gz")

# JVM options of the JVM that runs a job's tasks (the local MiniCluster's, a TaskManager's). The parallel
# collector: the tasks allocate short-lived batches and keep long-lived dedupe state, a throughput load
# without a pause target, and G1's concurrent marking and remembered sets cost CPU and resident memory there
# (bench/README.md, "Collector").
TASK_JVM_OPTIONS = "-XX:+UseParallelGC"


def java_executable(settings: Settings) -> str:
    home = settings.paths.java_home or (Path(os.environ["JAVA_HOME"]) if os.environ.get("JAVA_HOME") else None)
    if home is not None:
        candidate = home / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
        raise SetupError(f"no java at {candidate}; fix LAKEGATE_JAVA_HOME / JAVA_HOME (need Java 17)")
    found = shutil.which("java")
    if found is None:
        raise SetupError("java not found on PATH; install OpenJDK 17 or set LAKEGATE_JAVA_HOME")
    return found


def _pom_hash(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def artifacts_ready(settings: Settings) -> bool:
    stamp = settings.paths.jvm_dir / _STAMP
    return (
        settings.paths.pom.is_file() and stamp.is_file() and stamp.read_text().strip() == _pom_hash(settings.paths.pom)
    )


def ensure_artifacts(settings: Settings) -> None:
    """Fetch every artifact group unless the stamp says this pom was already fetched."""
    if not settings.paths.pom.is_file():
        raise SetupError(f"pom not found at {settings.paths.pom}; run from a lakegate checkout or set LAKEGATE_POM")
    if artifacts_ready(settings):
        log.info("JVM artifacts up to date", extra=kv(dir=settings.paths.jvm_dir))
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SetupError("mvn (Apache Maven) not found on PATH; install it (Debian package 'maven')")
    settings.paths.jvm_dir.mkdir(parents=True, exist_ok=True)
    for index, group in enumerate(GROUPS, 1):
        target = settings.paths.jvm_dir / group
        if target.exists():
            shutil.rmtree(target)  # a changed pom may drop jars: never keep stale ones
        started = time.monotonic()
        log.info(f"[{index}/{len(GROUPS)}] fetching JVM artifacts: {group}", extra=kv(dir=target))
        command = [
            mvn,
            "-B",
            "-q",
            "-Dstyle.color=never",
            "-f",
            str(settings.paths.pom),
            f"-P{group}",
            f"-Dlakegate.jvm.dir={settings.paths.jvm_dir}",
            "package",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise SetupError(f"Maven failed for artifact group {group!r} (exit {result.returncode}):\n{tail}")
        if group == "registry":
            _unpack_registry(settings, mvn)
        log.info(f"[{index}/{len(GROUPS)}] done: {group}", extra=kv(seconds=round(time.monotonic() - started, 1)))
    (settings.paths.jvm_dir / _STAMP).write_text(_pom_hash(settings.paths.pom) + "\n")


def _unpack_registry(settings: Settings, mvn: str) -> None:
    # The pom only downloads the tarball into the local Maven repository (see the comment there).
    version = _pom_property(settings.paths.pom, "apicurio.version")
    result = subprocess.run(
        [
            mvn,
            "-B",
            "-q",
            "-Dstyle.color=never",
            "help:evaluate",
            "-Dexpression=settings.localRepository",
            "-DforceStdout",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # Maven wraps the value in ANSI colour codes even in batch mode on some terminals.
    value = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout).strip()
    repo = Path(value) if result.returncode == 0 and value else Path.home() / ".m2" / "repository"
    folder, name = _REGISTRY_COORDS
    tarball = repo / folder / version / name.format(v=version)
    if not tarball.is_file():
        raise SetupError(f"registry tarball missing at {tarball} after Maven ran; rerun `lakegate setup`")
    target = settings.paths.jvm_dir / "registry"
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(target, filter="data")


def _pom_property(pom: Path, name: str) -> str:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find(f"m:properties/m:{name}", ns)  # noqa: S314
    if node is None or not (node.text or "").strip():
        raise SetupError(f"{pom} has no <{name}> property")
    return (node.text or "").strip()


def jars(settings: Settings, group: str) -> list[Path]:
    folder = settings.paths.jvm_dir / group
    found = sorted(folder.glob("*.jar"))
    if not found:
        raise SetupError(f"no jars in {folder}; run `lakegate setup` (or `make setup`) first")
    return found


# The Iceberg JDBC catalog's drivers (file name prefixes in the flink folder): system classpath, not pipeline.jars.
JDBC_DRIVERS = ("sqlite-jdbc-", "postgresql-")


def system_classpath(settings: Settings) -> str:
    """Jars the Flink JVM needs on its *system* classpath (exported as HADOOP_CLASSPATH).

    Hadoop must be there for the Iceberg sink. The catalog's JDBC drivers too: java.sql.DriverManager does
    not see drivers that only sit in the user-code classloader (``pipeline.jars``), and the Iceberg committer
    fails with "No suitable driver found".
    """
    # Flink's S3 filesystem first: it bundles the Hadoop (3.3) its S3A code was built with, whose
    # core-default.xml it must read (Hadoop 3.4's writes durations as "60s", which 3.3's S3A cannot parse).
    system = [
        *s3_jars(settings, system=True),
        *jars(settings, "hadoop"),
        *(j for j in jars(settings, "flink") if j.name.startswith(JDBC_DRIVERS)),
    ]
    return os.pathsep.join(str(j) for j in [*system, *metric_reporter_jars()])


# The s3 group's jar that goes on the system classpath; the others travel with the job (pipeline.jars).
FLINK_S3_FILESYSTEM = "flink-s3-fs-hadoop-"


def s3_jars(settings: Settings, *, system: bool) -> list[Path]:
    """The s3 group's jars a job that reaches S3 needs (``s3_warehouse``, ``s3_checkpoints``; none otherwise:
    90 MB a job would carry for nothing): Flink's S3 filesystem for the system classpath (``system``), where
    Flink's filesystem loader finds it, or Iceberg's AWS bundle for ``pipeline.jars``, beside the Iceberg
    runtime it extends."""
    if not settings.objectstore.in_use:
        return []
    return [j for j in jars(settings, "s3") if j.name.startswith(FLINK_S3_FILESYSTEM) == system]


def metric_reporter_jars() -> list[Path]:
    """PyFlink's bundled Prometheus reporter, for the system classpath of a local (MiniCluster) job.

    It ships as a Flink plugin, but local execution starts its MiniCluster without a plugin manager
    (FLINK-29779), so reporters load only through the classpath there.
    """
    folder = Path(pyflink.__file__).parent / "plugins" / "metrics-prometheus"
    found = sorted(folder.glob("flink-metrics-prometheus-*.jar"))
    if not found:
        raise SetupError(f"no Prometheus reporter jar in {folder}; reinstall apache-flink")
    return found


def pipeline_jars(settings: Settings) -> list[Path]:
    flink = [j for j in jars(settings, "flink") if not j.name.startswith(JDBC_DRIVERS)]
    return [*flink, *s3_jars(settings, system=False), runtime_jar(settings)]


RUNTIME_SOURCES = Path(__file__).resolve().parents[1] / "jvm" / "src"


def runtime_jar(settings: Settings) -> Path:
    """lakegate's own Java classes (``jvm/src``), compiled against :func:`runtime_compile_classpath` on first use.

    Named after a hash of the sources and of the classpath's jar names, so an edited source (or another pinned
    connector) gets a new jar and a stale one is never used.
    Where the sources are not installed (an image built with ``pip install .``), the jar ``lakegate setup``
    built from the checkout is used: there must be exactly one."""
    folder = settings.paths.jvm_dir / "lakegate"
    sources = sorted(RUNTIME_SOURCES.rglob("*.java"))
    if not sources:
        built = sorted(folder.glob("lakegate-flink-*.jar"))
        if len(built) != 1:
            raise SetupError(
                f"no Java sources under {RUNTIME_SOURCES} and {len(built)} built jars in {folder}: "
                "run `lakegate setup` from a lakegate checkout (it needs a JDK's javac)"
            )
        return built[0]
    classpath = runtime_compile_classpath(settings)
    target = folder / f"lakegate-flink-{_build_digest(RUNTIME_SOURCES, sources, classpath)}.jar"
    if not target.is_file():
        started = time.monotonic()
        compile_jar(settings, RUNTIME_SOURCES, target, classpath)
        log.info("compiled lakegate's Java classes", extra=kv(jar=target, seconds=round(time.monotonic() - started, 1)))
    return target


def _build_digest(root: Path, sources: list[Path], classpath: list[Path]) -> str:
    """16 hex digits of the sources (paths under ``root`` and contents) and the classpath's jar names: another
    source or another pinned jar version names another jar."""
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.relative_to(root).as_posix().encode() + b"\0" + source.read_bytes())
    for jar in classpath:
        digest.update(b"\1" + jar.name.encode())
    return digest.hexdigest()[:16]


def runtime_compile_classpath(settings: Settings) -> list[Path]:
    """What ``jvm/src`` compiles against: PyFlink's Flink API, the pinned connectors (Kafka, Iceberg; the
    ``flink`` group, shipped with every job as ``pipeline.jars``) and Hadoop (the ``hadoop`` group, on the
    system classpath at run time: the Iceberg catalog loader takes a Hadoop ``Configuration``)."""
    return [*flink_compile_classpath(), *jars(settings, "flink"), *jars(settings, "hadoop")]


def flink_compile_classpath() -> list[Path]:
    """The Flink API jars PyFlink bundles: what lakegate's Java classes compile against (and run with)."""
    return sorted((Path(pyflink.__file__).parent / "lib").glob("*.jar"))


def compile_jar(settings: Settings, sources: Path, target: Path, classpath: list[Path]) -> Path:
    """``javac`` every ``.java`` under ``sources`` (plus ``sources/META-INF`` if present) into ``target``,
    atomically: a concurrent build or a failed one never leaves a half-written jar under that name."""
    bin_dir = Path(java_executable(settings)).resolve().parent
    javac, jar = bin_dir / "javac", bin_dir / "jar"
    if not javac.is_file():
        raise SetupError(f"no javac beside {bin_dir / 'java'}: lakegate needs a JDK 17, not only a JRE")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lakegate-javac-", dir=target.parent) as work:
        classes = Path(work) / "classes"
        result = subprocess.run(
            [
                str(javac),
                "-nowarn",
                "--release",
                "17",
                "-d",
                str(classes),
                "-cp",
                os.pathsep.join(str(j) for j in classpath),
                *(str(s) for s in sorted(sources.rglob("*.java"))),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SetupError(f"javac failed for {sources}:\n{(result.stdout + result.stderr).strip()[-3000:]}")
        extra = ["-C", str(sources), "META-INF"] if (sources / "META-INF").is_dir() else []
        built = Path(work) / target.name
        subprocess.run(
            [str(jar), "--create", "--file", str(built), "-C", str(classes), ".", *extra],
            check=True,
            capture_output=True,
            text=True,
        )
        built.replace(target)
    return target


REST_CATALOG_SOURCES = Path(__file__).resolve().parents[1] / "jvm" / "restcatalog"


def rest_catalog_classpath(settings: Settings) -> list[Path]:
    """What the local REST catalog server (``jvm/restcatalog``, lakegate/stack/restcatalog.py) runs with: its
    launcher compiled on first use (named after a hash of its sources), the ``restcatalog`` group, Hadoop,
    and Iceberg's AWS bundle when the warehouse is on S3."""
    classpath = [*jars(settings, "restcatalog"), *jars(settings, "hadoop"), *s3_jars(settings, system=False)]
    sources = sorted(REST_CATALOG_SOURCES.rglob("*.java"))
    if not sources:
        raise SetupError(f"no Java sources under {REST_CATALOG_SOURCES}: run the REST catalog from a lakegate checkout")
    digest = _build_digest(REST_CATALOG_SOURCES, sources, classpath)
    target = settings.paths.jvm_dir / "lakegate" / f"lakegate-restcatalog-{digest}.jar"
    if not target.is_file():
        compile_jar(settings, REST_CATALOG_SOURCES, target, classpath)
    return [target, *classpath]


def registry_runner(settings: Settings) -> Path:
    runners = sorted((settings.paths.jvm_dir / "registry").glob("*-runner.jar"))
    if not runners:
        raise SetupError(f"no registry runner jar in {settings.paths.jvm_dir / 'registry'}; run `lakegate setup`")
    return runners[0]
