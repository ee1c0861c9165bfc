"""Jobs killed between two sinks' commits, then started again fresh (no checkpoint) or from the last retained
checkpoint: nothing lost, nothing doubled, the dead-letter topic and the read models right.

A test-only Java agent (tests/job/crash_agent) SIGKILLs the job's JVM right after one Iceberg sink committed
a checkpoint that another has not committed yet; the commit order is read from the committers' own log
lines, not guessed by sleeping. The fresh start then resumes from the coverage journal (lakegate/resume.py).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from lakegate import readmodels
from lakegate.catalog import audit_table_name, open_catalog, quarantine_table_name
from lakegate.changelogs import corrections, published
from lakegate.produce import produce
from lakegate.resume import journal_folder, read_journal, table_point
from lakegate.settings import Settings
from lakegate.testing.lake import own_lake
from lakegate.testing.plugin import JobRun, RunningJob
from lakegate.testing.readers import quarantined_coordinates, read_audit, read_dead_letters, topic_coordinates
from lakegate.testing.readmodels import mismatches
from udfs.contract import Contracts, load_contracts
from udfs.readmodels import key_text

pytestmark = pytest.mark.job

Coordinate = tuple[str, int, int]


def _audit_coordinates(settings: Settings, contracts: Contracts) -> list[Coordinate]:
    return [
        (row["lg_topic"], row["lg_partition"], row["lg_offset"])
        for contract in contracts
        for row in read_audit(settings, contract).select(["lg_topic", "lg_partition", "lg_offset"]).to_pylist()
    ]


MODEL = "ticket_events_by_status"  # an aggregate with a "latest" measure: the most state to get right
# Each run is killed between the first sink's commit and the second's, then the next run starts on that lake.
KILLS = {
    "fresh": [
        ("audit", "quarantine"),
        ("quarantine", "audit"),
        ("quarantine", "dead-letter"),
        ("dead-letter", "quarantine"),
        ("audit", "model"),
        ("model", "changelog"),
        ("changelog", "model"),
    ],
    "checkpoint": [("audit", "quarantine"), ("model", "changelog")],
}


@pytest.mark.parametrize("restart", ["fresh", "checkpoint"])
def test_kills_between_two_sinks_commits_then_restarts_lose_and_double_nothing(
    lakegate_stack: Settings,
    run_job: Callable[..., JobRun],
    start_job: Callable[[str, Settings], RunningJob],
    crash_agent: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restart: str,
) -> None:
    """Each run of a chain is killed between two sinks' commits; the next one starts without a checkpoint
    ("fresh": `lakegate run ingest`) or from the last retained checkpoint ("checkpoint": `lakegate resume`);
    a last run drains. New records (bad ones and producer retries among them) arrive before every run."""
    # A lake of its own (topics, tables, consumer group). Small batches, short checkpoints: commits every run.
    settings, contracts = own_lake(
        lakegate_stack, tmp_path, f"resume_{restart}", batch_max_records=200, checkpoint_interval_ms=300
    )
    tickets = next(c for c in contracts if c.name == "tickets")
    sinks = {
        "audit": f"table:{audit_table_name(settings, tickets)}",
        "quarantine": f"table:{quarantine_table_name(settings)}",
        "dead-letter": f"kafka:{settings.job.name}-dlq-",  # the sinks' transactional ids (IngestGraph.java)
        "model": f"table:{readmodels.table_name(settings, readmodels.find(contracts, MODEL)[0])}",
        "changelog": f"kafka:{settings.job.name}-changelog-",
    }
    seed = 1500 if restart == "fresh" else 1600
    for step, (first, second) in enumerate(KILLS[restart]):
        marker = tmp_path / f"killed-{step}.txt"
        monkeypatch.setenv("JVM_ARGS", f"-javaagent:{crash_agent}={sinks[first]},{sinks[second]},2,{marker}")
        run = _next_run(settings, restart, step)
        # Unbounded, as a job runs in production and as `lakegate resume` runs one (a drained job's checkpoint
        # keeps its stopping offsets), with records arriving while it runs: every checkpoint then has changes
        # for every sink to commit, however fast the job would drain a backlog.
        sending = threading.Thread(
            target=produce,
            args=(settings, contracts, 8000),
            kwargs={"bad_fraction": 0.1, "duplicate_fraction": 0.05, "seed": seed + step, "rate": 400.0},
        )
        job = start_job("ingest", run)
        sending.start()
        deadline = time.monotonic() + 300
        while job.alive and time.monotonic() < deadline:
            time.sleep(1)
        sending.join()
        assert not job.alive, f"run {step} was not killed: {job.log}"
        monkeypatch.delenv("JVM_ARGS")
        shutil.copytree(settings.paths.log_dir, tmp_path / f"killed-{step}-logs")  # the next run overwrites them
        assert marker.exists(), f"run {step} was not killed between {first}'s and {second}'s commits"
        # The kill left the first sink holding records the second lacks: the case the next run must repair.
        _assert_first_holds_more(settings, first, second, marker.read_text())
    produced = topic_coordinates(settings, [c.topic for c in contracts])
    if restart == "fresh":
        run_job("ingest", settings)  # `lakegate run ingest --drain`: a fresh start, to the topics' end
    else:
        last = _next_run(settings, restart, len(KILLS[restart]))
        # A job restored from a checkpoint runs unbounded, as `lakegate resume` runs it: until the lake holds
        # every record, and the Kafka transactions committed after the tables (dead letters, changelogs) agree.
        job = start_job("ingest", last)
        deadline = time.monotonic() + 300
        while _lake(settings, contracts) < produced:
            assert job.alive and time.monotonic() < deadline, f"the restored job did not catch up: {job.log}"
            time.sleep(2)
        deadline = time.monotonic() + 60
        while not _kafka_sinks_level(settings, contracts) and time.monotonic() < deadline:
            time.sleep(2)
        job.stop()

    audited = _audit_coordinates(settings, contracts)
    quarantined = quarantined_coordinates(settings)
    doubled = [c for c, n in Counter(audited + quarantined).items() if n > 1]
    assert not doubled, f"{len(doubled)} records written twice, e.g. {doubled[:5]}"
    assert set(audited) | set(quarantined) == produced, (
        f"lost: {len(produced - set(audited) - set(quarantined))}, "
        f"foreign: {len((set(audited) | set(quarantined)) - produced)}"
    )
    letters = [d.source for d in read_dead_letters(settings)]
    assert Counter(letters) == Counter(quarantined), "the dead-letter topic holds what the quarantine table holds"
    assert mismatches(settings, contracts) == {}, "read models differ from the audit log's computation"


def _kafka_sinks_level(settings: Settings, contracts: Contracts) -> bool:
    """Whether the dead-letter topic holds what the quarantine table holds and the read models (changelogs
    included) equal the audit log's computation: what the test asserts, polled while the job still runs."""
    letters = Counter(d.source for d in read_dead_letters(settings))
    return letters == Counter(quarantined_coordinates(settings)) and mismatches(settings, contracts) == {}


def _lake(settings: Settings, contracts: Contracts) -> set[Coordinate]:
    return set(_audit_coordinates(settings, contracts)) | set(quarantined_coordinates(settings))


def _next_run(settings: Settings, restart: str, step: int) -> Settings:
    """The settings of a chain's next killed run, unbounded: its first always starts fresh (an empty lake)."""
    if restart == "fresh" or step == 0:
        return settings.replace(drain=False)
    jobs = {job for job, _ in read_journal(journal_folder(settings))}  # this lake's jobs
    retained = [p.parent for job in jobs for p in (settings.paths.home / "checkpoints" / job).glob("chk-*/_metadata")]
    assert retained, f"no retained checkpoint of jobs {jobs}"
    newest = max(retained, key=lambda p: (p / "_metadata").stat().st_mtime)
    return settings.replace(restore_from=newest.as_uri(), drain=False)


def _assert_first_holds_more(settings: Settings, first: str, second: str, marker: str) -> None:
    if "changelog" in (first, second):
        model = readmodels.find(load_contracts(settings.paths.schemas_dir), MODEL)[0]
        rows = readmodels.read_log(settings, model)
        topic = published(settings, readmodels.changelog_topic(settings, model))
        if first == "model":
            assert corrections(model, rows, topic), f"the changelog lacks none of the table's changes; {marker}"
            return
        table: dict[str, int] = {}
        for row in rows.to_pylist():  # the model has no window: its key is its groups
            text = key_text(tuple(row[k] for k in readmodels.key_columns(model)))
            table[text] = max(table.get(text, 0), row["lg_version"])
        ahead = [k for k, v in topic.items() if v is not None and v > table.get(k, 0)]
        assert ahead, f"the changelog holds none of the table's missing changes; {marker}"
        return
    if "dead-letter" in (first, second):
        letters = {d.source for d in read_dead_letters(settings)}
        rows = set(quarantined_coordinates(settings))
        ahead, behind = (letters, rows) if first == "dead-letter" else (rows, letters)
        assert ahead - behind, f"{first} holds nothing {second} lacks; {marker}"
        return
    journal = read_journal(journal_folder(settings))
    iceberg = open_catalog(settings)
    tickets = audit_table_name(
        settings, next(c for c in load_contracts(settings.paths.schemas_dir) if c.name == "tickets")
    )
    model = readmodels.table_name(settings, readmodels.find(load_contracts(settings.paths.schemas_dir), MODEL)[0])
    names = {"audit": tickets, "quarantine": quarantine_table_name(settings), "model": model}
    points = {s: table_point(iceberg.load_table(names[s]), {job for job, _ in journal}) for s in (first, second)}
    assert points[first] is not None, marker
    held_second = -1 if points[second] is None else points[second].checkpoint  # type: ignore[union-attr]
    assert points[first].checkpoint > held_second, f"{points}; {marker}"  # type: ignore[union-attr]
