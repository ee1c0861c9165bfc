"""A job killed between two sinks' commits, then started fresh (no checkpoint): nothing lost, nothing doubled.

A test-only Java agent (tests/job/crash_agent) SIGKILLs the job's JVM right after one Iceberg sink committed
a checkpoint that another has not committed yet; the commit order is read from the committers' own log
lines, not guessed by sleeping. The fresh start then resumes from the coverage journal (lakegate/resume.py).
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from lakegate import jvm
from lakegate.catalog import audit_table_name, open_catalog, quarantine_table_name
from lakegate.produce import produce
from lakegate.resume import journal_folder, read_journal, table_point
from lakegate.settings import Settings
from lakegate.testing.plugin import JobRun
from lakegate.testing.readers import read_audit, read_dead_letters, read_quarantine, topic_coordinates
from udfs.contract import Contracts, load_contracts

pytestmark = pytest.mark.job

AGENT_SOURCES = Path(__file__).parent / "crash_agent"
AGENT_CLASS = "io.lakegate.testing.crash.CrashBetweenCommits"

Coordinate = tuple[str, int, int]


@pytest.fixture(scope="module")
def crash_agent(lakegate_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("crash-agent")
    built = jvm.compile_jar(lakegate_settings, AGENT_SOURCES, work / "crash-agent.jar", jvm.flink_compile_classpath())
    manifest = work / "manifest.txt"
    manifest.write_text(f"Premain-Class: {AGENT_CLASS}\n")
    java_bin = Path(jvm.java_executable(lakegate_settings)).resolve().parent
    subprocess.run([str(java_bin / "jar"), "--update", "--file", str(built), "--manifest", str(manifest)], check=True)
    return built


def _audit_coordinates(settings: Settings, contracts: Contracts) -> list[Coordinate]:
    return [
        (row["lg_topic"], row["lg_partition"], row["lg_offset"])
        for contract in contracts
        for row in read_audit(settings, contract).select(["lg_topic", "lg_partition", "lg_offset"]).to_pylist()
    ]


def _quarantine_coordinates(settings: Settings) -> list[Coordinate]:
    rows = read_quarantine(settings).select(["source_topic", "source_partition", "source_offset"]).to_pylist()
    return [(r["source_topic"], r["source_partition"], r["source_offset"]) for r in rows]


SINKS = ("audit", "quarantine", "dead-letter")


@pytest.mark.parametrize(
    ("first", "second"),
    [("audit", "quarantine"), ("quarantine", "audit"), ("quarantine", "dead-letter"), ("dead-letter", "quarantine")],
    ids=lambda sink: sink,
)
def test_a_kill_between_two_sinks_commits_then_a_fresh_start_loses_and_doubles_nothing(
    lakegate_stack: Settings,
    lakegate_contracts: Contracts,
    run_job: Callable[..., JobRun],
    crash_agent: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    first: str,
    second: str,
) -> None:
    # Own tables, topics (dead-letter, changelogs) and consumer group; the contract topics are shared with other
    # job tests, and this lake reads them from the start. Small batches: several checkpoints per run.
    name = f"resume_{first}_{second}".replace("-", "_")
    settings = lakegate_stack.replace(
        audit_namespace=name,
        quarantine_namespace=f"{name}_q",
        readmodel_namespace=f"{name}_models",
        dlq_topic=f"{name}.dlq",
        changelog_topic_prefix=f"{name}.model.",
        consumer_group=name.replace("_", "-"),
        batch_max_records=200,
    )
    tickets = next(c for c in lakegate_contracts if c.name == "tickets")
    sinks = {
        "audit": f"table:{audit_table_name(settings, tickets)}",
        "quarantine": f"table:{quarantine_table_name(settings)}",
        "dead-letter": f"kafka:{settings.job.name}-dlq-",  # the sink's transactional ids (IngestGraph.java)
    }
    produce(
        settings, lakegate_contracts, 12_000, bad_fraction=0.1, seed=1500 + SINKS.index(first) * 3 + SINKS.index(second)
    )

    marker = tmp_path / "killed.txt"
    monkeypatch.setenv("JVM_ARGS", f"-javaagent:{crash_agent}={sinks[first]},{sinks[second]},2,{marker}")
    killed = run_job("ingest", settings, check=False)
    monkeypatch.delenv("JVM_ARGS")
    shutil.copytree(settings.paths.log_dir, tmp_path / "killed-logs")  # the next run overwrites Flink's log
    assert marker.exists(), f"the job was not killed between {first}'s and {second}'s commits; log: {killed.log}"
    assert killed.returncode != 0
    # The kill left the first sink holding records the second lacks: the case a fresh start must repair.
    _assert_first_holds_more(settings, first, second, marker.read_text())

    run_job("ingest", settings)  # fresh: no checkpoint or savepoint named

    produced = topic_coordinates(settings, [c.topic for c in lakegate_contracts])
    audited = _audit_coordinates(settings, lakegate_contracts)
    quarantined = _quarantine_coordinates(settings)
    doubled = [c for c, n in Counter(audited + quarantined).items() if n > 1]
    assert not doubled, f"{len(doubled)} records written twice, e.g. {doubled[:5]}"
    assert set(audited) | set(quarantined) == produced, (
        f"lost: {len(produced - set(audited) - set(quarantined))}, "
        f"foreign: {len((set(audited) | set(quarantined)) - produced)}"
    )
    letters = [d.source for d in read_dead_letters(settings)]
    assert Counter(letters) == Counter(quarantined), "the dead-letter topic holds what the quarantine table holds"


def _assert_first_holds_more(settings: Settings, first: str, second: str, marker: str) -> None:
    if "dead-letter" in (first, second):
        letters = {d.source for d in read_dead_letters(settings)}
        rows = set(_quarantine_coordinates(settings))
        ahead, behind = (letters, rows) if first == "dead-letter" else (rows, letters)
        assert ahead - behind, f"{first} holds nothing {second} lacks; {marker}"
        return
    journal = read_journal(journal_folder(settings))
    iceberg = open_catalog(settings)
    tickets = audit_table_name(
        settings, next(c for c in load_contracts(settings.paths.schemas_dir) if c.name == "tickets")
    )
    names = {"audit": tickets, "quarantine": quarantine_table_name(settings)}
    points = {s: table_point(iceberg.load_table(names[s]), {job for job, _ in journal}) for s in (first, second)}
    assert points[first] is not None, marker
    held_second = -1 if points[second] is None else points[second].checkpoint  # type: ignore[union-attr]
    assert points[first].checkpoint > held_second, f"{points}; {marker}"  # type: ignore[union-attr]
