"""Every metric lakegate exports: its name, type, labels, meaning, and what to do when it moves.

Two sources, one catalogue: ``JOB``, counted in the ingest job by the ``route`` (jobs/metrics.py),
``unpack``, ``dedupe`` and ``read_models`` operators through Flink's metric groups and exported by Flink's
Prometheus reporter (names ``flink_taskmanager_job_task_operator_lakegate_<keys>_<name>``); ``EXPORTER``,
served by the lakegate exporter (lakegate/observe/exporter.py) from the lake, Kafka and Flink's REST API.

Invariant: the dashboards and the alert rules query only metrics listed here, and ``docs/metrics.md`` is
this module rendered (``lakegate metrics catalogue``); unit tests check both. Histograms are cumulative
counters labelled ``bound``: docs/metrics.md says why and how to query them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

JOB_PREFIX = "flink_taskmanager_job_task_operator_lakegate_"


class Kind(StrEnum):
    counter = "counter"
    gauge = "gauge"
    histogram = "histogram"  # cumulative counters with a `bound` label (docs/metrics.md says why)


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    kind: Kind
    labels: tuple[str, ...]
    help: str
    action: str  # what to do when it moves


# ---- in the job (Flink metric groups → Flink's Prometheus reporter) -------------------------------------
RECORDS = JOB_PREFIX + "topic_contract_schema_version_outcome_records"
QUARANTINED = JOB_PREFIX + "contract_reason_rule_quarantined_records"
DECODE_SECONDS = JOB_PREFIX + "contract_decode_seconds_bound_observations"
FRESHNESS_SECONDS = JOB_PREFIX + "contract_freshness_seconds_bound_observations"
FIRST_SEEN = JOB_PREFIX + "contract_schema_version_first_seen_timestamp_seconds"
READ_MODEL_CHANGES = JOB_PREFIX + "model_op_changes"

# Outcomes (label `outcome`): every record routed gets exactly one.
AUDITED = "audited"
QUARANTINED_OUTCOME = "quarantined"
DEDUPLICATED = "deduplicated"
OUTCOMES = (AUDITED, QUARANTINED_OUTCOME, DEDUPLICATED)
UNKNOWN = "unknown"  # label value when a fact is not known (no contract, schema version not determined)
NONE = "none"  # label value `rule` when the reason is not a rule violation

# Bucket upper bounds (seconds); "+Inf" is always added.
DECODE_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1)
FRESHNESS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

# ---- the lakegate exporter (prometheus-client) ----------------------------------------------------------
JOB_RUNNING = "lakegate_job_running"
JOB_RESTARTS = "lakegate_job_restarts_total"
CHECKPOINTS_COMPLETED = "lakegate_checkpoints_completed_total"
CHECKPOINTS_FAILED = "lakegate_checkpoints_failed_total"
CHECKPOINT_LAST_COMPLETED = "lakegate_checkpoint_last_completed_timestamp_seconds"
CHECKPOINT_LAST_DURATION = "lakegate_checkpoint_last_duration_seconds"
ICEBERG_COMMITS = "lakegate_iceberg_commits_total"
ICEBERG_SNAPSHOTS = "lakegate_iceberg_snapshots"
ICEBERG_DATA_FILES = "lakegate_iceberg_data_files"
ICEBERG_DATA_BYTES = "lakegate_iceberg_data_bytes"
ICEBERG_RECORDS = "lakegate_iceberg_records"
ICEBERG_LAST_COMMIT = "lakegate_iceberg_last_commit_timestamp_seconds"
LEDGER_RECORDS = "lakegate_ledger_records"
LEDGER_UNACCOUNTED = "lakegate_ledger_unaccounted_records"
LEDGER_CHECKED = "lakegate_ledger_checked_timestamp_seconds"
LAG = "lakegate_lag_records"
TOPIC_END_OFFSET = "lakegate_topic_end_offset"
EXPORTER_REFRESH_SECONDS = "lakegate_exporter_refresh_duration_seconds"
EXPORTER_ERRORS = "lakegate_exporter_refresh_errors_total"

# Ledger stages (label `stage`): read == audited + quarantined + deduplicated when nothing is lost.
READ = "read"
LEDGER_STAGES = (READ, AUDITED, QUARANTINED_OUTCOME, DEDUPLICATED)

JOB: tuple[Metric, ...] = (
    Metric(
        RECORDS,
        Kind.counter,
        ("topic", "contract", "schema_version", "outcome"),
        "Records routed, by source topic, contract, writer schema version (contract version number, "
        "`unknown` when not determined) and outcome (audited | quarantined | deduplicated). Each record is "
        "counted once, by the operator that decides its outcome: route or unpack (quarantined), dedupe "
        "(audited, deduplicated).",
        "Throughput per contract. A drop to zero on a busy topic: see the job and lag alerts. A new "
        "schema_version value: a producer started writing a new contract version.",
    ),
    Metric(
        QUARANTINED,
        Kind.counter,
        ("contract", "reason", "rule"),
        "Records quarantined (duplicates included), by reason code (udfs/reasons.py) and, for "
        "`rule_violation`, the contract rule that failed (`none` otherwise). Rule failures by rule are "
        'this metric with reason="rule_violation".',
        "Read the reason: producer bugs (schema_mismatch, unknown_schema_id, bad_magic_byte) go to the "
        "owning team with samples from the quarantine table; rule_violation names the rule to discuss. "
        "After a fix, `lakegate quarantine replay`.",
    ),
    Metric(
        DECODE_SECONDS,
        Kind.histogram,
        ("contract", "bound"),
        "Route time of one record: all of Python's work on it (framing, registry lookup from cache, Avro "
        "decode, contract checks, PII treatment, model events, its result entry). Every routed record counts.",
        "p99 rising with stable throughput: bigger records or a registry cache miss storm; profile with bench/.",
    ),
    Metric(
        FRESHNESS_SECONDS,
        Kind.histogram,
        ("contract", "bound"),
        "Freshness of valid records when routed: ingest time minus the record's event time (seconds). "
        "Counted before dedupe, so duplicates and bodies the JVM rejects are included.",
        "The freshness objective (see alert FreshnessObjectiveBurning): look at lag first (the job is "
        "behind), then at producers sending old events (a backfill).",
    ),
    Metric(
        READ_MODEL_CHANGES,
        Kind.counter,
        ("model", "op"),
        "Changes a read model emitted (to its Iceberg table and changelog topic), by op: upsert | delete. "
        "Changes are coalesced: at most one per key per mini-batch (`readmodel_minibatch_ms`). Events the "
        "ordering rule ignores (older than the key's current state) are not changes.",
        "Flat while its contract's records flow: the declaration's upsert_on/delete_on no longer match "
        "the event types producers send. Deletes far above normal: look at the producer.",
    ),
    Metric(
        FIRST_SEEN,
        Kind.gauge,
        ("contract", "schema_version"),
        "When this task first routed a valid record of this contract version (Unix seconds; resets on restart).",
        "A new version in production: check that `lakegate contracts check` passed for it.",
    ),
)

EXPORTER: tuple[Metric, ...] = (
    Metric(
        JOB_RUNNING,
        Kind.gauge,
        ("job_name",),
        "1 while a Flink job with this name is RUNNING, else 0.",
        "0: the job is down or restarting; look at its log and `lakegate status`.",
    ),
    Metric(
        JOB_RESTARTS,
        Kind.counter,
        ("job_name",),
        "Restarts of the job since it was submitted (Flink numRestarts).",
        "Any increase: a task failed (registry outage, broker loss, bug). The job log has the cause.",
    ),
    Metric(
        CHECKPOINTS_COMPLETED,
        Kind.counter,
        ("job_name",),
        "Completed checkpoints since the job was submitted.",
        "Must keep rising: Iceberg and dead-letter commits happen on checkpoints.",
    ),
    Metric(
        CHECKPOINTS_FAILED,
        Kind.counter,
        ("job_name",),
        "Failed checkpoints since the job was submitted.",
        "Any increase: commits are delayed; a growing count means nothing reaches the lake.",
    ),
    Metric(
        CHECKPOINT_LAST_COMPLETED,
        Kind.gauge,
        ("job_name",),
        "When the latest checkpoint completed (Unix seconds).",
        "Older than a few intervals: checkpoints are stuck (back pressure, a slow sink).",
    ),
    Metric(
        CHECKPOINT_LAST_DURATION,
        Kind.gauge,
        ("job_name",),
        "End-to-end duration of the latest completed checkpoint.",
        "Approaching the interval: the job spends its time checkpointing; raise the interval.",
    ),
    Metric(
        ICEBERG_COMMITS,
        Kind.counter,
        ("table",),
        "Commits to the Iceberg table (its last sequence number).",
        "Flat while records flow: the sink is not committing (see checkpoints).",
    ),
    Metric(
        ICEBERG_SNAPSHOTS,
        Kind.gauge,
        ("table",),
        "Snapshots the table's metadata retains.",
        "Growing without bound: snapshot expiry is not running.",
    ),
    Metric(
        ICEBERG_DATA_FILES,
        Kind.gauge,
        ("table",),
        "Data files in the table's current snapshot.",
        "Many small files (files much faster than bytes): compact the table.",
    ),
    Metric(
        ICEBERG_DATA_BYTES,
        Kind.gauge,
        ("table",),
        "Bytes of data files in the table's current snapshot.",
        "Capacity planning.",
    ),
    Metric(
        ICEBERG_RECORDS,
        Kind.gauge,
        ("table",),
        "Records in the table's current snapshot.",
        "Should track the ledger's audited and quarantined counts.",
    ),
    Metric(
        ICEBERG_LAST_COMMIT,
        Kind.gauge,
        ("table",),
        "When the table's current snapshot was committed (Unix seconds).",
        "Old while its topic is busy: the sink is stuck.",
    ),
    Metric(
        LEDGER_RECORDS,
        Kind.gauge,
        ("topic", "stage"),
        "The no-loss ledger over committed data: records read (offsets the lake covers, gaps checked "
        "against Kafka), audited, quarantined and deduplicated, up to the settled offset of each partition.",
        "read must equal audited + quarantined + deduplicated: see lakegate_ledger_unaccounted_records.",
    ),
    Metric(
        LEDGER_UNACCOUNTED,
        Kind.gauge,
        ("topic",),
        "read - (audited + quarantined + deduplicated): positive = records lost, negative = written twice.",
        "Not 0 for minutes: stop and investigate. `lakegate status` lists the missing or doubled "
        "coordinates; the audit and quarantine tables hold the rest.",
    ),
    Metric(
        LEDGER_CHECKED,
        Kind.gauge,
        (),
        "When the ledger was last computed (Unix seconds).",
        "Old: the exporter cannot read the lake or Kafka (see lakegate_exporter_refresh_errors_total).",
    ),
    Metric(
        LAG,
        Kind.gauge,
        ("topic", "partition"),
        "Records in Kafka not yet committed to the lake: end offset - (last offset in the lake + 1).",
        "Growing: the job is slower than producers, stuck, or down.",
    ),
    Metric(
        TOPIC_END_OFFSET,
        Kind.gauge,
        ("topic", "partition"),
        "The partition's end offset (next offset to be written).",
        "Flat for long on a topic that is usually busy: its producers stopped (alert TopicSilent).",
    ),
    Metric(
        EXPORTER_REFRESH_SECONDS,
        Kind.gauge,
        (),
        "How long the exporter's last refresh took.",
        "Approaching the refresh interval: the tables are large; raise exporter_interval_s.",
    ),
    Metric(
        EXPORTER_ERRORS,
        Kind.counter,
        ("source",),
        "Refreshes that failed, by source (flink, lake, kafka).",
        "Increasing: the exporter's data is stale; its log says why.",
    ),
)

ALL: tuple[Metric, ...] = JOB + EXPORTER


def by_name(name: str) -> Metric:
    for metric in ALL:
        if metric.name == name:
            return metric
    raise KeyError(name)


def render_markdown() -> str:
    """docs/metrics.md (``lakegate metrics catalogue``)."""
    lines = [
        "# Metrics catalogue",
        "",
        "Generated from `lakegate/observe/catalogue.py` by `lakegate metrics catalogue > docs/metrics.md`;",
        "a unit test keeps the two equal. Dashboards: `deploy/grafana/`. Alert rules: `deploy/prometheus/rules/`.",
        "",
        "Two endpoints, both clean under `promtool check metrics`:",
        "",
        "- **the job** (Flink's Prometheus reporter, port setting `metrics_port`): what the `route`, `unpack`,",
        "  `dedupe` and `read_models` operators count through Flink's metric groups. Flink builds each name from",
        "  the operator scope and the key of every key/value group",
        "  (`flink_taskmanager_job_task_operator_lakegate_<keys>_<name>`), exports counters as gauges (use",
        "  `rate()`; they restart at 0 when the job restarts) and adds its own labels (`job_name`,",
        "  `subtask_index`, ...): sum them away. The reporter is filtered to lakegate's metrics: Flink's own are",
        "  camelCase and fail promtool's lint. Histograms are cumulative counters with a `bound` label",
        "  (observations ≤ bound, `+Inf` included), because promtool rejects an `le` label or a `_bucket` suffix",
        "  on anything but a histogram and Flink exports gauges. For quantiles rename the label:",
        '  `histogram_quantile(0.99, sum by (le) (label_replace(rate(M[5m]), "le", "$1", "bound", "(.*)")))`;',
        '  ratios need nothing, e.g. the share fresher than 60 s is `M{bound="60.0"} / M{bound="+Inf"}`.',
        "- **the lakegate exporter** (prometheus-client, port setting `exporter_port`; `lakegate run ingest`",
        "  serves it beside the job, `lakegate exporter` alone): the no-loss ledger, lag, Iceberg tables and",
        "  job health, read from the lake, Kafka and Flink's REST API every `exporter_interval_s`.",
        "",
    ]
    for title, metrics in (("In the job", JOB), ("The lakegate exporter", EXPORTER)):
        lines += [f"## {title}", ""]
        for metric in metrics:
            labels = ", ".join(f"`{label}`" for label in metric.labels) or "none"
            lines += [
                f"### `{metric.name}`",
                "",
                f"{metric.kind.value}; labels: {labels}",
                "",
                metric.help,
                "",
                f"**When it moves:** {metric.action}",
                "",
            ]
    return "\n".join(lines)
