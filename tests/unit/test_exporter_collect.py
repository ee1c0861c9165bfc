"""The lakegate exporter's collector (lakegate/observe/exporter.py) rendered by prometheus-client, checked
against the catalogue and by ``promtool check metrics``; and reading endpoints back (lakegate/observe/scrape.py)
from loopback HTTP servers started here. No lake, no Kafka, no Flink.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from lakegate.observe import catalogue
from lakegate.observe.exporter import Observation, ObservationCollector, Observer
from lakegate.observe.ledger import TopicLedger
from lakegate.observe.scrape import samples, scrape, summed
from lakegate.observe.sources import JobHealth, Positions, TableStats
from lakegate.testing.ports import free_port

USERS = "support.users.v1"
TICKETS = "support.tickets.v1"
JOB_NAME = "lakegate-ingest"
AUDIT_USERS, QUARANTINE = "audit.users", "quarantine.records"
(JOB_LABEL,) = catalogue.by_name(catalogue.JOB_RUNNING).labels  # the job's name, whatever the label is called
JOB_SERIES = {JOB_LABEL: JOB_NAME}

Key = tuple[str, frozenset[tuple[str, str]]]  # sample name, labels


def job(**overrides: Any) -> JobHealth:
    fields: dict[str, Any] = {
        "job": JOB_NAME,
        "job_id": "4f1e0c0b8e7b2a55c1d3e9f2a6b7c8d9",
        "state": "RUNNING",
        "restarts": 2,
        "checkpoints_completed": 41,
        "checkpoints_failed": 1,
        "last_checkpoint_s": 1_700_000_123.5,
        "last_checkpoint_duration_s": 0.75,
    }
    fields.update(overrides)
    return JobHealth(**fields)


def observation(**overrides: Any) -> Observation:
    fields: dict[str, Any] = {
        "at_s": 1_700_000_130.0,
        "job": job(),
        "tables": (
            TableStats(
                AUDIT_USERS,
                commits=12,
                snapshots=9,
                data_files=30,
                data_bytes=81_920,
                records=995,
                last_commit_s=1_700_000_120.0,
            ),
            TableStats(
                QUARANTINE, commits=3, snapshots=3, data_files=3, data_bytes=4_096, records=22, last_commit_s=None
            ),  # e.g. snapshots expired to none: no timestamp to report
        ),
        "ledger": (
            TopicLedger(TICKETS, read=520, audited=500, quarantined=12, deduplicated=7),  # one record lost
            TopicLedger(USERS, read=1_000, audited=990, quarantined=5, deduplicated=5),
        ),
        "ledger_at_s": 1_700_000_128.0,
        "positions": Positions(
            log_start={(USERS, 0): 0, (USERS, 1): 0, (TICKETS, 0): 100},
            end={(USERS, 0): 600, (USERS, 1): 400, (TICKETS, 0): 620},
        ),
        "lake_high": {(USERS, 0): 589, (USERS, 1): 405},  # read after the end offsets: already past them
        "refresh_s": 0.42,
    }
    fields.update(overrides)
    return Observation(**fields)


def observer_of(latest: Observation, errors: Counter[str] | None = None) -> Observer:
    """An Observer as the collector sees it (latest, errors), without settings, lake or Kafka."""
    observer = object.__new__(Observer)  # mypy still checks the attributes set below against Observer's
    observer.latest = latest
    observer.errors = errors if errors is not None else Counter()
    return observer


def exposition(latest: Observation, errors: Counter[str] | None = None) -> str:
    registry = CollectorRegistry(auto_describe=False)  # as the Exporter registers it
    registry.register(ObservationCollector(observer_of(latest, errors)))
    return generate_latest(registry).decode()


def parsed(text: str) -> dict[Key, float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def names_and_labels(text: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, labels in parsed(text):
        out.setdefault(name, set()).update(key for key, _ in labels)
    return out


def value(text: str, name: str, **labels: str) -> float:
    return parsed(text)[(name, frozenset(labels.items()))]


def promtool_check_metrics(text: str) -> None:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail(
            "promtool is not on PATH: run `make setup` (deploy/install-prometheus.sh installs the Debian "
            "package prometheus, which provides it)"
        )
    result = subprocess.run(
        [binary, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), (
        f"promtool check metrics exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )


# ---- names, labels, types and help: the catalogue's -------------------------------------------------------------
def test_every_exporter_metric_of_the_catalogue_is_served_with_its_labels() -> None:
    assert names_and_labels(exposition(observation())) == {m.name: set(m.labels) for m in catalogue.EXPORTER}


def test_types_and_help_are_the_catalogues() -> None:
    for family in text_string_to_metric_families(exposition(observation())):
        (name,) = {s.name for s in family.samples}
        metric = catalogue.by_name(name)
        assert metric in catalogue.EXPORTER
        assert family.type == str(metric.kind), name
        assert family.documentation == metric.help, name
        if metric.kind is catalogue.Kind.counter:
            assert name.endswith("_total")


def test_promtool_finds_no_problem_in_the_exposition() -> None:
    promtool_check_metrics(exposition(observation()))


def test_promtool_finds_no_problem_before_the_first_refresh() -> None:
    promtool_check_metrics(exposition(Observation(at_s=1_700_000_000.0)))


# ---- values ----------------------------------------------------------------------------------------------------
def test_job_health_values() -> None:
    text = exposition(observation())
    assert value(text, catalogue.JOB_RUNNING, **JOB_SERIES) == 1
    assert value(text, catalogue.JOB_RESTARTS, **JOB_SERIES) == 2
    assert value(text, catalogue.CHECKPOINTS_COMPLETED, **JOB_SERIES) == 41
    assert value(text, catalogue.CHECKPOINTS_FAILED, **JOB_SERIES) == 1
    assert value(text, catalogue.CHECKPOINT_LAST_COMPLETED, **JOB_SERIES) == 1_700_000_123.5
    assert value(text, catalogue.CHECKPOINT_LAST_DURATION, **JOB_SERIES) == 0.75


@pytest.mark.parametrize("state", ["RESTARTING", "FAILED", "CANCELED", "INITIALIZING"])
def test_a_job_not_running_is_zero(state: str) -> None:
    assert value(exposition(observation(job=job(state=state))), catalogue.JOB_RUNNING, **JOB_SERIES) == 0


def test_checkpoint_times_are_left_out_before_the_first_checkpoint() -> None:
    names = names_and_labels(exposition(observation(job=job(last_checkpoint_s=None, last_checkpoint_duration_s=None))))
    assert catalogue.CHECKPOINT_LAST_COMPLETED not in names
    assert catalogue.CHECKPOINT_LAST_DURATION not in names
    assert catalogue.CHECKPOINTS_COMPLETED in names


def test_no_job_metrics_when_flink_knows_no_such_job() -> None:
    names = names_and_labels(exposition(observation(job=None)))
    job_metrics = {m.name for m in catalogue.EXPORTER if m.labels == (JOB_LABEL,)}
    assert names.keys() & job_metrics == set()
    assert catalogue.LEDGER_RECORDS in names


def test_table_values() -> None:
    text = exposition(observation())
    assert value(text, catalogue.ICEBERG_COMMITS, table=AUDIT_USERS) == 12
    assert value(text, catalogue.ICEBERG_SNAPSHOTS, table=AUDIT_USERS) == 9
    assert value(text, catalogue.ICEBERG_DATA_FILES, table=AUDIT_USERS) == 30
    assert value(text, catalogue.ICEBERG_DATA_BYTES, table=AUDIT_USERS) == 81_920
    assert value(text, catalogue.ICEBERG_RECORDS, table=QUARANTINE) == 22
    assert value(text, catalogue.ICEBERG_LAST_COMMIT, table=AUDIT_USERS) == 1_700_000_120.0


def test_a_table_without_a_commit_time_has_no_last_commit_series() -> None:
    text = exposition(observation())
    assert (catalogue.ICEBERG_LAST_COMMIT, frozenset({("table", QUARANTINE)})) not in parsed(text)
    assert value(text, catalogue.ICEBERG_COMMITS, table=QUARANTINE) == 3


def test_ledger_values_per_topic_and_stage() -> None:
    text = exposition(observation())
    assert summed(text, catalogue.LEDGER_RECORDS, ("topic", "stage")) == {
        (TICKETS, catalogue.READ): 520,
        (TICKETS, catalogue.AUDITED): 500,
        (TICKETS, catalogue.QUARANTINED_OUTCOME): 12,
        (TICKETS, catalogue.DEDUPLICATED): 7,
        (USERS, catalogue.READ): 1_000,
        (USERS, catalogue.AUDITED): 990,
        (USERS, catalogue.QUARANTINED_OUTCOME): 5,
        (USERS, catalogue.DEDUPLICATED): 5,
    }
    assert value(text, catalogue.LEDGER_UNACCOUNTED, topic=TICKETS) == 1
    assert value(text, catalogue.LEDGER_UNACCOUNTED, topic=USERS) == 0
    assert value(text, catalogue.LEDGER_CHECKED) == 1_700_000_128.0


def test_records_written_twice_are_a_negative_unaccounted_count() -> None:
    text = exposition(observation(ledger=(TopicLedger(USERS, read=10, audited=11, quarantined=0, deduplicated=0),)))
    assert value(text, catalogue.LEDGER_UNACCOUNTED, topic=USERS) == -1


def test_no_ledger_timestamp_before_the_ledger_was_computed() -> None:
    text = exposition(observation(ledger=(), ledger_at_s=None))
    assert catalogue.LEDGER_CHECKED not in names_and_labels(text)
    assert not any(name in (catalogue.LEDGER_RECORDS, catalogue.LEDGER_UNACCOUNTED) for name, _ in parsed(text))


def test_lag_and_end_offsets_per_partition() -> None:
    text = exposition(observation())
    assert summed(text, catalogue.LAG, ("topic", "partition")) == {
        (USERS, "0"): 600 - (589 + 1),
        (USERS, "1"): 0,
        (TICKETS, "0"): 620 - 100,
    }
    assert summed(text, catalogue.TOPIC_END_OFFSET, ("topic", "partition")) == {
        (USERS, "0"): 600,
        (USERS, "1"): 400,
        (TICKETS, "0"): 620,
    }


def test_refresh_duration_and_errors_by_source() -> None:
    text = exposition(observation(), Counter({"lake": 2, "kafka": 1}))
    assert value(text, catalogue.EXPORTER_REFRESH_SECONDS) == 0.42
    assert summed(text, catalogue.EXPORTER_ERRORS, ("source",)) == {("flink",): 0, ("lake",): 2, ("kafka",): 1}


# ---- lag ---------------------------------------------------------------------------------------------------------
def test_lag_is_the_end_offset_minus_the_next_offset_after_the_lake() -> None:
    o = Observation(at_s=0, positions=Positions({(USERS, 0): 0}, {(USERS, 0): 100}), lake_high={(USERS, 0): 89})
    assert o.lag() == {(USERS, 0): 10}


def test_lag_falls_back_to_the_log_start_when_the_lake_holds_nothing_of_a_partition() -> None:
    o = Observation(at_s=0, positions=Positions({(USERS, 0): 40}, {(USERS, 0): 100}))
    assert o.lag() == {(USERS, 0): 60}


def test_lag_counts_from_offset_zero_when_neither_lake_nor_log_start_is_known() -> None:
    o = Observation(at_s=0, positions=Positions({}, {(USERS, 0): 100}))
    assert o.lag() == {(USERS, 0): 100}


def test_lag_is_never_negative() -> None:
    """End offsets are read before the lake: the lake may already hold records past them."""
    o = Observation(at_s=0, positions=Positions({(USERS, 0): 0}, {(USERS, 0): 100}), lake_high={(USERS, 0): 120})
    assert o.lag() == {(USERS, 0): 0}


def test_lag_is_zero_when_the_lake_holds_the_last_record() -> None:
    o = Observation(at_s=0, positions=Positions({(USERS, 0): 0}, {(USERS, 0): 100}), lake_high={(USERS, 0): 99})
    assert o.lag() == {(USERS, 0): 0}


def test_lag_only_for_partitions_kafka_reported() -> None:
    o = Observation(at_s=0, positions=Positions({}, {(USERS, 0): 5}), lake_high={(USERS, 0): 4, (TICKETS, 0): 9})
    assert o.lag() == {(USERS, 0): 0}


# ---- reading endpoints back ----------------------------------------------------------------------------------------
FLINK_RECORDS = catalogue.RECORDS


def flink_text(subtask_values: dict[tuple[str, str], float]) -> str:
    """What Flink's Prometheus reporter serves: a gauge, scope labels, a trailing comma in every label set."""
    lines = [
        f"# HELP {FLINK_RECORDS} records (scope: taskmanager_job_task_operator_lakegate)",
        f"# TYPE {FLINK_RECORDS} gauge",
    ]
    for (subtask, contract), n in subtask_values.items():
        lines.append(
            f'{FLINK_RECORDS}{{host="tm_1",job_name="{JOB_NAME}",subtask_index="{subtask}",'
            f'topic="{USERS}",contract="{contract}",schema_version="1",outcome="audited",}} {n}'
        )
    return "\n".join(lines) + "\n"


CLIENT_TEXT = """\
# HELP lakegate_exporter_refresh_errors_total Refreshes that failed, by source (flink, lake, kafka).
# TYPE lakegate_exporter_refresh_errors_total counter
lakegate_exporter_refresh_errors_total{source="flink"} 0.0
lakegate_exporter_refresh_errors_total{source="lake"} 3.0
lakegate_exporter_refresh_errors_created{source="lake"} 1.7000000001e+09
# HELP lakegate_lag_records Records in Kafka not yet committed to the lake.
# TYPE lakegate_lag_records gauge
lakegate_lag_records{partition="0",topic="support.users.v1"} 12.0
"""


def test_samples_of_a_flink_gauge_with_labels() -> None:
    text = flink_text({("0", "users"): 42, ("1", "users"): 8})
    got = samples(text, FLINK_RECORDS)
    assert [(labels["subtask_index"], labels["contract"], labels["outcome"], v) for labels, v in got] == [
        ("0", "users", "audited", 42.0),
        ("1", "users", "audited", 8.0),
    ]


def test_samples_of_a_counter_by_its_name_with_or_without_total_and_never_created() -> None:
    expected = [({"source": "flink"}, 0.0), ({"source": "lake"}, 3.0)]
    assert samples(CLIENT_TEXT, "lakegate_exporter_refresh_errors_total") == expected
    assert samples(CLIENT_TEXT, "lakegate_exporter_refresh_errors") == expected


def test_samples_of_a_metric_not_served_is_empty() -> None:
    assert samples(CLIENT_TEXT, catalogue.LEDGER_RECORDS) == []
    assert samples("", catalogue.LEDGER_RECORDS) == []


def test_summed_adds_subtasks_up_by_the_labels_asked_for() -> None:
    text = flink_text({("0", "users"): 42, ("1", "users"): 8, ("0", "tickets"): 5})
    assert summed(text, FLINK_RECORDS, ("contract",)) == {("users",): 50.0, ("tickets",): 5.0}
    assert summed(text, FLINK_RECORDS, ()) == {(): 55.0}
    assert summed(text, FLINK_RECORDS, ("contract", "rule")) == {("users", ""): 50.0, ("tickets", ""): 5.0}


class _Server:
    def __init__(self, body: str) -> None:
        payload = body.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.port = free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)  # listening once constructed
        # A short poll interval: shutdown() waits for the serving loop to notice.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def serve() -> Iterator[Callable[[str], str]]:
    """``serve(text)`` → the base URL of a loopback server answering ``/metrics`` with ``text``."""
    servers: list[_Server] = []

    def start(body: str) -> str:
        server = _Server(body)
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        server.stop()


def test_scrape_reads_an_endpoint(serve: Callable[[str], str]) -> None:
    assert scrape([serve(CLIENT_TEXT) + "/metrics"]) == CLIENT_TEXT


def test_scrape_concatenates_the_endpoints_that_answer_and_skips_the_others(serve: Callable[[str], str]) -> None:
    """One endpoint per MiniCluster in a port range: most ports of the range have nobody listening."""
    first = flink_text({("0", "users"): 42})
    second = flink_text({("0", "users"): 8, ("1", "tickets"): 5})
    unreachable = f"http://127.0.0.1:{free_port()}/metrics"
    not_metrics = serve(first) + "/nothing-here"  # answers 404
    text = scrape([serve(first) + "/metrics", unreachable, not_metrics, serve(second) + "/metrics"], timeout_s=5)
    assert text == first + "\n" + second
    assert summed(text, FLINK_RECORDS, ("contract",)) == {("users",): 50.0, ("tickets",): 5.0}


@pytest.mark.parametrize(
    "reply",
    [
        b"SSH-2.0-OpenSSH_9.2\r\n",  # something else took a port of the range
        b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n# TYPE x gauge\nx 1\n",  # gone mid-answer
    ],
    ids=["not-http", "truncated"],
)
def test_scrape_skips_an_endpoint_that_does_not_answer_http_in_full(serve: Callable[[str], str], reply: bytes) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def answer_once() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(reply)

        thread = threading.Thread(target=answer_once, daemon=True)
        thread.start()
        text = scrape([f"http://127.0.0.1:{port}/metrics", serve(CLIENT_TEXT) + "/metrics"], timeout_s=5)
        thread.join()
    assert text == CLIENT_TEXT


def test_scrape_of_nothing_reachable_is_empty() -> None:
    assert scrape([f"http://127.0.0.1:{free_port()}/metrics"]) == ""
    assert scrape([]) == ""


def test_the_served_exporter_reads_back_through_scrape() -> None:
    """The Exporter's HTTP path: prometheus-client's server on loopback, read as `lakegate status` reads it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ObservationCollector(observer_of(observation(), Counter({"kafka": 4}))))
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        text = scrape([f"http://127.0.0.1:{port}/metrics"], timeout_s=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert summed(text, catalogue.LEDGER_UNACCOUNTED, ("topic",)) == {(TICKETS,): 1.0, (USERS,): 0.0}
    assert samples(text, catalogue.EXPORTER_ERRORS) == [
        ({"source": "flink"}, 0.0),
        ({"source": "lake"}, 0.0),
        ({"source": "kafka"}, 4.0),
    ]
