"""Grafana dashboards for lakegate, generated from code (grafana-foundation-sdk); never edited by hand.

``python -m lakegate.observe.dashboards --schemas schemas --out DIR`` writes one ``<uid>.json`` per dashboard:
``lakegate-overview`` answers "is the pipeline healthy?" for every contract at once, top to bottom in the
order an on-call person asks; ``lakegate-contracts`` has one collapsed row per contract in ``schemas/``, for
the team that owns it.

Invariant: every metric name and description comes from :mod:`lakegate.observe.catalogue`, and every query is
self-contained PromQL (the contract written in, the data source the only variable), so a test runs each one.
How the queries are built: deploy/grafana/README.md#queries.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from lakegate.catalog import audit_table_name
from lakegate.entrypoint import entry_point
from lakegate.observe import catalogue as m
from lakegate.settings import Settings
from udfs.contract import Contract, Contracts, load_contracts
from udfs.reasons import Reason

OVERVIEW_UID = "lakegate-overview"
OVERVIEW_TITLE = "lakegate overview"
CONTRACTS_UID = "lakegate-contracts"
CONTRACTS_TITLE = "lakegate contracts"
TAG = "lakegate"

DATASOURCE_VARIABLE = "datasource"
# The default data source of both dashboards; deploy/grafana/provisioning/datasources/prometheus.yaml
# provisions a Prometheus data source with this uid.
DATASOURCE_UID = "lakegate-prometheus"
DATASOURCE_NAME = "Prometheus"
# At least four scrape intervals, so a rate never rests on one sample; Grafana needs the data source's
# timeInterval set to Prometheus' scrape interval to compute it.
RATE_WINDOW = "$__rate_interval"
BOUND_LABEL = "bound"  # the bucket label of the job's histograms (catalogue.Kind.histogram)
# The Flink job's name: Flink's reporter and the exporter both call it this (`job` is Prometheus' scrape job).
FLINK_JOB_LABEL = "job_name"

# Units (Grafana unit ids; `count:<symbol>` is a scaled count with that symbol).
RECORDS_PER_SECOND = "count:rec/s"
COMMITS_PER_SECOND = "count:commits/s"
CHECKPOINTS_PER_SECOND = "count:checkpoints/s"
ERRORS_PER_SECOND = "count:errors/s"
COUNT = "short"
SHARE = "percentunit"
SECONDS = "s"
BYTES = "bytes"
STATE = "none"

# Ages above these turn the stat yellow, then red. The exporter refreshes every few seconds and the job
# checkpoints every few seconds by default; a minute means a stall, five minutes an incident.
STALE_AFTER_S = 60.0
DEAD_AFTER_S = 300.0

FULL_WIDTH = 24
HALF = 12
THIRD = 8
QUARTER = 6
GRAPH_HEIGHT = 8
STAT_HEIGHT = 5


# ---- PromQL ---------------------------------------------------------------------------------------------
def _selector(metric: str, matchers: Mapping[str, str]) -> str:
    if not matchers:
        return metric
    escaped = (f'{label}="{_escape(value)}"' for label, value in matchers.items())
    return f"{metric}{{{', '.join(escaped)}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _by(labels: Sequence[str]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def _rate(metric: str, matchers: Mapping[str, str]) -> str:
    return f"rate({_selector(metric, matchers)}[{RATE_WINDOW}])"


def sum_rate(metric: str, by: Sequence[str] = (), **matchers: str) -> str:
    """Per-second rate of a counter (Flink's monotonic gauges included), summed over everything but ``by``."""
    return f"sum{_by(by)} ({_rate(metric, matchers)})"


def aggregate(function: str, metric: str, by: Sequence[str] = (), **matchers: str) -> str:
    """A gauge's current value, aggregated over everything but ``by`` (drops scrape labels such as instance)."""
    return f"{function}{_by(by)} ({_selector(metric, matchers)})"


def quantile(q: float, metric: str, by: Sequence[str] = (), **matchers: str) -> str:
    """Quantile ``q`` of a lakegate histogram over the rate window.

    Its buckets are cumulative counters labelled ``bound`` (the catalogue says why not ``le``), so the rates are
    relabelled ``le`` for ``histogram_quantile`` and summed by it, which drops ``bound`` and Flink's labels.
    """
    metric_def = m.by_name(metric)
    if metric_def.kind is not m.Kind.histogram or BOUND_LABEL not in metric_def.labels:
        raise ValueError(f"{metric} is not a histogram with a {BOUND_LABEL!r} label")
    buckets = f'label_replace({_rate(metric, matchers)}, "le", "$1", "{BOUND_LABEL}", "(.*)")'
    return f"histogram_quantile({q}, sum{_by((*by, 'le'))} ({buckets}))"


def age(metric: str, by: Sequence[str] = (), **matchers: str) -> str:
    """Seconds since a Unix-seconds timestamp gauge (the newest one per ``by`` group): dashboards show ages,
    because "the last checkpoint is 8 minutes old" is what calls for action, a date is not."""
    return f"time() - {aggregate('max', metric, by, **matchers)}"


def per_flink_job(function: str, metric: str) -> str:
    """An exporter job gauge's current value per Flink job."""
    return f"{function} by ({FLINK_JOB_LABEL}) ({metric})"


def per_flink_job_rate(metric: str) -> str:
    """An exporter job counter's per-second rate per Flink job."""
    return f"sum by ({FLINK_JOB_LABEL}) ({_rate(metric, {})})"


def per_flink_job_age(metric: str) -> str:
    """Seconds since an exporter job timestamp gauge, per Flink job."""
    return f"time() - {per_flink_job('max', metric)}"


def share(metric: str, by: Sequence[str], part: Mapping[str, str]) -> str:
    """Part of a counter's rate over its whole rate, per ``by`` group; 0 (not absent) while the part is empty."""
    whole = sum_rate(metric, by)
    return f"({sum_rate(metric, by, **part)} or {whole} * 0) / {whole}"


# ---- panels ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    legend: str


def describe(*metrics: str, how: str = "") -> str:
    """A panel description: how the panel reads the metrics, then the catalogue's help and action texts."""
    parts = [how] if how else []
    for name in metrics:
        metric = m.by_name(name)
        parts.append(f"{metric.help} When it moves: {metric.action}")
    return " ".join(parts)


def _datasource() -> model.DataSourceRef:
    return model.DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")


def _targets(queries: Sequence[Query]) -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
    return [
        prometheus.Dataquery().ref_id(chr(ord("A") + i)).expr(q.expr).legend_format(q.legend).datasource(_datasource())
        for i, q in enumerate(queries)
    ]


def graph(
    title: str, description: str, unit: str, *queries: Query, width: int = HALF, stacked: bool = False
) -> timeseries.Panel:
    """A time series: for rates and levels whose shape over time matters."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(_datasource())
        .targets(_targets(queries))
        .span(width)
        .height(GRAPH_HEIGHT)
        .min(0)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
        .tooltip(
            common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING)
        )
    )
    if stacked:
        panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    return panel


def single(
    title: str,
    description: str,
    unit: str,
    *queries: Query,
    width: int = QUARTER,
    height: int = STAT_HEIGHT,
    thresholds: Sequence[model.Threshold] = (),
    mappings: Sequence[model.ValueMapping] = (),
) -> stat.Panel:
    """A stat with a sparkline: for "what is it now" (state, ages, sizes)."""
    steps = list(thresholds) or [model.Threshold(value=None, color="blue")]
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(_datasource())
        .targets(_targets(queries))
        .span(width)
        .height(height)
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(dashboard_builders.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps))
    )
    if mappings:
        panel.mappings(list(mappings))
    return panel


def staleness_thresholds() -> list[model.Threshold]:
    return [
        model.Threshold(value=None, color="green"),
        model.Threshold(value=STALE_AFTER_S, color="yellow"),
        model.Threshold(value=DEAD_AFTER_S, color="red"),
    ]


def zero_is_green() -> list[model.Threshold]:
    """Red below and above zero: the ledger must balance exactly."""
    return [
        model.Threshold(value=None, color="red"),
        model.Threshold(value=-0.5, color="green"),
        model.Threshold(value=0.5, color="red"),
    ]


def running_mapping() -> model.ValueMap:
    return model.ValueMap(
        options={
            "1": model.ValueMappingResult(text="RUNNING", color="green", index=0),
            "0": model.ValueMappingResult(text="DOWN", color="red", index=1),
        }
    )


Section = tuple[str, Sequence[cogbuilder.Builder[model.Panel]]]


# ---- the overview ---------------------------------------------------------------------------------------
def throughput_panels() -> list[cogbuilder.Builder[model.Panel]]:
    quarantined = {"outcome": m.QUARANTINED_OUTCOME}
    return [
        graph(
            "Records by outcome",
            describe(m.RECORDS, how="Records routed per second, all contracts."),
            RECORDS_PER_SECOND,
            Query(sum_rate(m.RECORDS, ("outcome",)), "{{outcome}}"),
            width=THIRD,
            stacked=True,
        ),
        graph(
            "Quarantine share by contract",
            describe(
                m.RECORDS,
                how="Share of each contract's routed records that were quarantined. "
                "Duplicates are not in it: they are the outcome deduplicated (a producer retry, the data "
                "is fine).",
            ),
            SHARE,
            Query(share(m.RECORDS, ("contract",), quarantined), "{{contract}}"),
            width=THIRD,
        ),
        graph(
            "Quarantined by reason",
            describe(m.QUARANTINED, how="Records quarantined per second, by contract and reason code."),
            RECORDS_PER_SECOND,
            Query(sum_rate(m.QUARANTINED, ("contract", "reason")), "{{contract}} {{reason}}"),
            width=THIRD,
            stacked=True,
        ),
        graph(
            "Rule violations by rule",
            describe(m.QUARANTINED, how="Records quarantined per second for a failed contract rule, by rule."),
            RECORDS_PER_SECOND,
            Query(sum_rate(m.QUARANTINED, ("contract", "rule"), reason=Reason.rule_violation), "{{contract}} {{rule}}"),
            width=HALF,
            stacked=True,
        ),
        graph(
            "Records by contract and outcome",
            describe(m.RECORDS, how="Records routed per second, by contract and outcome."),
            RECORDS_PER_SECOND,
            Query(sum_rate(m.RECORDS, ("contract", "outcome")), "{{contract}} {{outcome}}"),
            width=HALF,
        ),
    ]


def latency_panels() -> list[cogbuilder.Builder[model.Panel]]:
    by_contract = ("contract",)
    return [
        graph(
            "Freshness p50 and p99 by contract",
            describe(m.FRESHNESS_SECONDS, how="Median and 99th percentile over the rate window."),
            SECONDS,
            Query(quantile(0.5, m.FRESHNESS_SECONDS, by_contract), "{{contract}} p50"),
            Query(quantile(0.99, m.FRESHNESS_SECONDS, by_contract), "{{contract}} p99"),
        ),
        graph(
            "Decode p99 by contract",
            describe(m.DECODE_SECONDS, how="99th percentile over the rate window."),
            SECONDS,
            Query(quantile(0.99, m.DECODE_SECONDS, by_contract), "{{contract}} p99"),
        ),
    ]


def lag_and_ledger_panels() -> list[cogbuilder.Builder[model.Panel]]:
    return [
        graph(
            "Lag by topic",
            describe(m.LAG, how="Summed over partitions."),
            COUNT,
            Query(aggregate("sum", m.LAG, ("topic",)), "{{topic}}"),
            width=THIRD,
        ),
        graph(
            "Produced by topic",
            describe(
                m.TOPIC_END_OFFSET,
                how="Records written to each topic per second (rate of the end offsets); "
                "compare with the records routed.",
            ),
            RECORDS_PER_SECOND,
            Query(sum_rate(m.TOPIC_END_OFFSET, ("topic",)), "{{topic}}"),
            width=THIRD,
        ),
        graph(
            "Ledger by topic and stage",
            describe(m.LEDGER_RECORDS, how="read must equal audited + quarantined + deduplicated."),
            COUNT,
            Query(aggregate("max", m.LEDGER_RECORDS, ("topic", "stage")), "{{topic}} {{stage}}"),
            width=THIRD,
        ),
        single(
            "Unaccounted records",
            describe(m.LEDGER_UNACCOUNTED, how="Green only at exactly 0."),
            COUNT,
            Query(aggregate("max", m.LEDGER_UNACCOUNTED, ("topic",)), "{{topic}}"),
            width=HALF,
            thresholds=zero_is_green(),
        ),
        single(
            "Ledger age",
            describe(m.LEDGER_CHECKED, how="Seconds since the ledger was last computed."),
            SECONDS,
            Query(age(m.LEDGER_CHECKED), "ledger"),
            width=HALF,
            thresholds=staleness_thresholds(),
        ),
    ]


def job_panels() -> list[cogbuilder.Builder[model.Panel]]:
    legend = f"{{{{{FLINK_JOB_LABEL}}}}}"
    return [
        single(
            "Job running",
            describe(m.JOB_RUNNING),
            STATE,
            Query(per_flink_job("max", m.JOB_RUNNING), legend),
            width=QUARTER,
            thresholds=[model.Threshold(value=None, color="red"), model.Threshold(value=1, color="green")],
            mappings=[running_mapping()],
        ),
        single(
            "Job restarts",
            describe(m.JOB_RESTARTS, how="Restarts since the job was submitted."),
            COUNT,
            Query(per_flink_job("max", m.JOB_RESTARTS), legend),
            width=QUARTER,
            thresholds=[model.Threshold(value=None, color="green"), model.Threshold(value=1, color="orange")],
        ),
        single(
            "Last checkpoint age",
            describe(m.CHECKPOINT_LAST_COMPLETED, how="Seconds since the latest checkpoint completed."),
            SECONDS,
            Query(per_flink_job_age(m.CHECKPOINT_LAST_COMPLETED), legend),
            width=QUARTER,
            thresholds=staleness_thresholds(),
        ),
        single(
            "Last checkpoint duration",
            describe(m.CHECKPOINT_LAST_DURATION),
            SECONDS,
            Query(per_flink_job("max", m.CHECKPOINT_LAST_DURATION), legend),
            width=QUARTER,
        ),
        graph(
            "Checkpoints completed and failed",
            describe(m.CHECKPOINTS_COMPLETED, m.CHECKPOINTS_FAILED, how="Checkpoints per second."),
            CHECKPOINTS_PER_SECOND,
            Query(per_flink_job_rate(m.CHECKPOINTS_COMPLETED), f"{legend} completed"),
            Query(per_flink_job_rate(m.CHECKPOINTS_FAILED), f"{legend} failed"),
            width=FULL_WIDTH,
        ),
    ]


def iceberg_panels() -> list[cogbuilder.Builder[model.Panel]]:
    by_table = ("table",)
    legend = "{{table}}"
    return [
        graph(
            "Iceberg commits by table",
            describe(m.ICEBERG_COMMITS, how="Commits per second."),
            COMMITS_PER_SECOND,
            Query(sum_rate(m.ICEBERG_COMMITS, by_table), legend),
            width=THIRD,
        ),
        graph(
            "Iceberg records by table",
            describe(m.ICEBERG_RECORDS),
            COUNT,
            Query(aggregate("max", m.ICEBERG_RECORDS, by_table), legend),
            width=THIRD,
        ),
        single(
            "Iceberg last commit age by table",
            describe(m.ICEBERG_LAST_COMMIT, how="Seconds since each table's current snapshot was committed."),
            SECONDS,
            Query(age(m.ICEBERG_LAST_COMMIT, by_table), legend),
            width=THIRD,
            height=GRAPH_HEIGHT,
        ),
        graph(
            "Iceberg data files by table",
            describe(m.ICEBERG_DATA_FILES),
            COUNT,
            Query(aggregate("max", m.ICEBERG_DATA_FILES, by_table), legend),
            width=THIRD,
        ),
        graph(
            "Iceberg data bytes by table",
            describe(m.ICEBERG_DATA_BYTES),
            BYTES,
            Query(aggregate("max", m.ICEBERG_DATA_BYTES, by_table), legend),
            width=THIRD,
        ),
        graph(
            "Iceberg snapshots by table",
            describe(m.ICEBERG_SNAPSHOTS),
            COUNT,
            Query(aggregate("max", m.ICEBERG_SNAPSHOTS, by_table), legend),
            width=THIRD,
        ),
    ]


def read_model_panels() -> list[cogbuilder.Builder[model.Panel]]:
    return [
        graph(
            "Read-model changes by model and op",
            describe(m.READ_MODEL_CHANGES, how="Changes per second each read model emitted."),
            RECORDS_PER_SECOND,
            Query(sum_rate(m.READ_MODEL_CHANGES, ("model", "op")), "{{model}} {{op}}"),
            width=FULL_WIDTH,
            stacked=True,
        ),
    ]


def exporter_panels() -> list[cogbuilder.Builder[model.Panel]]:
    return [
        graph(
            "Exporter refresh errors by source",
            describe(m.EXPORTER_ERRORS, how="Failed refreshes per second."),
            ERRORS_PER_SECOND,
            Query(sum_rate(m.EXPORTER_ERRORS, ("source",)), "{{source}}"),
        ),
        graph(
            "Exporter refresh duration",
            describe(m.EXPORTER_REFRESH_SECONDS),
            SECONDS,
            Query(aggregate("max", m.EXPORTER_REFRESH_SECONDS), "refresh"),
        ),
    ]


def overview_sections() -> list[Section]:
    return [
        ("Throughput and quarantine", throughput_panels()),
        ("Freshness and decode time", latency_panels()),
        ("Lag and the no-loss ledger", lag_and_ledger_panels()),
        ("Job and checkpoints", job_panels()),
        ("Iceberg tables", iceberg_panels()),
        ("Read models", read_model_panels()),
        ("Exporter", exporter_panels()),
    ]


# ---- per contract ---------------------------------------------------------------------------------------
def contract_panels(contract: Contract, audit_table: str) -> list[cogbuilder.Builder[model.Panel]]:
    """The panels of one contract's row; its name, topic and audit table are literal label values."""
    name = contract.name
    return [
        graph(
            f"{name}: records by schema version and outcome",
            describe(m.RECORDS, how=f"Records of contract {name} routed per second."),
            RECORDS_PER_SECOND,
            Query(sum_rate(m.RECORDS, ("schema_version", "outcome"), contract=name), "v{{schema_version}} {{outcome}}"),
            stacked=True,
        ),
        graph(
            f"{name}: quarantined by reason and rule",
            describe(m.QUARANTINED, how=f"Records of contract {name} quarantined per second."),
            RECORDS_PER_SECOND,
            Query(sum_rate(m.QUARANTINED, ("reason", "rule"), contract=name), "{{reason}} {{rule}}"),
            stacked=True,
        ),
        graph(
            f"{name}: freshness p50 and p99",
            describe(m.FRESHNESS_SECONDS, how="Median and 99th percentile over the rate window."),
            SECONDS,
            Query(quantile(0.5, m.FRESHNESS_SECONDS, contract=name), "p50"),
            Query(quantile(0.99, m.FRESHNESS_SECONDS, contract=name), "p99"),
        ),
        graph(
            f"{name}: lag of {contract.topic}",
            describe(m.LAG, how="By partition, stacked: the top is the total."),
            COUNT,
            Query(aggregate("sum", m.LAG, ("partition",), topic=contract.topic), "partition {{partition}}"),
            stacked=True,
        ),
        *audit_table_panels(name, audit_table),
    ]


def audit_table_panels(name: str, table: str) -> list[cogbuilder.Builder[model.Panel]]:
    where = {"table": table}
    return [
        single(
            f"{name}: {table} commits",
            describe(m.ICEBERG_COMMITS, how="Commits per second."),
            COMMITS_PER_SECOND,
            Query(sum_rate(m.ICEBERG_COMMITS, **where), table),
            width=QUARTER,
        ),
        single(
            f"{name}: {table} records",
            describe(m.ICEBERG_RECORDS),
            COUNT,
            Query(aggregate("max", m.ICEBERG_RECORDS, **where), table),
            width=5,
        ),
        single(
            f"{name}: {table} data files",
            describe(m.ICEBERG_DATA_FILES),
            COUNT,
            Query(aggregate("max", m.ICEBERG_DATA_FILES, **where), table),
            width=4,
        ),
        single(
            f"{name}: {table} data bytes",
            describe(m.ICEBERG_DATA_BYTES),
            BYTES,
            Query(aggregate("max", m.ICEBERG_DATA_BYTES, **where), table),
            width=4,
        ),
        single(
            f"{name}: {table} last commit age",
            describe(m.ICEBERG_LAST_COMMIT, how="Seconds since the current snapshot was committed."),
            SECONDS,
            Query(age(m.ICEBERG_LAST_COMMIT, **where), table),
            width=5,
        ),
    ]


def contract_row_title(contract: Contract) -> str:
    return f"{contract.name} (topic {contract.topic}, owner {contract.owner_team})"


# ---- dashboards -----------------------------------------------------------------------------------------
def _dashboard(uid: str, title: str, description: str) -> dashboard_builders.Dashboard:
    return (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .readonly()
        .time("now-1h", "now")
        .refresh("30s")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(
            dashboard_builders.DatasourceVariable(DATASOURCE_VARIABLE)
            .label("Data source")
            .type("prometheus")
            .current(model.VariableOption(text=DATASOURCE_NAME, value=DATASOURCE_UID))
        )
        .link(
            dashboard_builders.DashboardLink("lakegate dashboards")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(False)
            .include_vars(True)
            .keep_time(True)
        )
    )


def overview() -> model.Dashboard:
    board = _dashboard(
        OVERVIEW_UID,
        OVERVIEW_TITLE,
        "Is lakegate healthy? Throughput, quarantine, freshness, lag, the no-loss ledger, the job, "
        "checkpoints and the Iceberg tables, for all contracts. Generated by "
        "lakegate/observe/dashboards.py: change the code, not this dashboard.",
    )
    for title, section_panels in overview_sections():
        board.with_row(dashboard_builders.Row(title))  # an expanded row: its panels follow it
        for panel in section_panels:
            board.with_panel(panel)
    return _numbered(board.build())


def contracts_dashboard(contracts: Contracts, settings: Settings) -> model.Dashboard:
    board = _dashboard(
        CONTRACTS_UID,
        CONTRACTS_TITLE,
        "One row per contract in schemas/: records by schema version and outcome, quarantine by "
        "reason and rule, freshness, lag of its topic and its audit table. Generated by "
        "lakegate/observe/dashboards.py: change the code, not this dashboard.",
    )
    for contract in contracts:
        row = dashboard_builders.Row(contract_row_title(contract))  # collapsed: it holds its panels
        for panel in contract_panels(contract, audit_table_name(settings, contract)):
            row.with_panel(panel)
        board.with_row(row)
    return _numbered(board.build())


def _numbered(board: model.Dashboard) -> model.Dashboard:
    """Give every panel, rows and their panels included, a stable id (1, 2, ... in layout order)."""
    next_id = 1
    for panel in board.panels or []:
        panel.id_val = next_id
        next_id += 1
        for nested in panel.panels if isinstance(panel, model.RowPanel) else []:
            nested.id_val = next_id
            next_id += 1
    return board


def to_dict(board: model.Dashboard) -> dict[str, Any]:
    """The dashboard's JSON model as plain dicts and lists."""
    return cast(dict[str, Any], json.loads(json.dumps(board, cls=JSONEncoder)))


def build(contracts: Contracts, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Both dashboards' JSON models; ``settings`` names the audit tables (default: the default settings)."""
    settings = settings or Settings()
    return [to_dict(overview()), to_dict(contracts_dashboard(contracts, settings))]


# ---- reading dashboards back ----------------------------------------------------------------------------
def all_panels(panels: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels") or [])


def panels(board: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every panel that shows data (not rows), nested in rows or not, in layout order."""
    return [panel for panel in all_panels(board.get("panels") or []) if panel.get("type") != "row"]


def queries(dashboards: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL expression) for every target of every panel."""
    return [
        (board["uid"], panel["title"], target["expr"])
        for board in dashboards
        for panel in panels(board)
        for target in panel.get("targets") or []
    ]


# ---- files ----------------------------------------------------------------------------------------------
def render(board: Mapping[str, Any]) -> str:
    """Sorted keys and two-space indents, so a regenerated dashboard diffs line by line."""
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(out_dir: Path, contracts: Contracts, settings: Settings | None = None) -> list[Path]:
    """Write ``<uid>.json`` per dashboard into ``out_dir`` (created if missing); return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for board in build(contracts, settings):
        path = out_dir / f"{board['uid']}.json"
        path.write_text(render(board), encoding="utf-8")
        written.append(path)
    return written


@entry_point
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lakegate.observe.dashboards",
        description="Write lakegate's Grafana dashboards as JSON, one file per uid.",
    )
    parser.add_argument("--schemas", type=Path, default=None, help="contracts root (default: the schemas_dir setting)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write <uid>.json into")
    args = parser.parse_args(argv)
    settings = Settings.load()
    paths = write(args.out, load_contracts(args.schemas or settings.paths.schemas_dir), settings)
    for path in paths:
        board = json.loads(path.read_text(encoding="utf-8"))
        print(f"wrote {path} ({board['title']}: {len(panels(board))} panels, {len(queries([board]))} queries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
