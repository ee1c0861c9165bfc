"""The ingest job's JVM half (``io.lakegate.flink.ingest.IngestGraph``) around a stand-in route, for its tests.

The stand-in (:class:`EchoRoute`) is no router: it trusts that a framed value's body follows its contract's
reader schema and reads only the event id and event time, the first two fields of the repository's contracts.
A value that is not framed becomes a QUARANTINED entry built with the real Python builders
(``udfs.quarantine.quarantine_values``, ``udfs.router.quarantine_headers``); everything else is VALID, body
kind 0, and the JVM half does the rest: the strict body check, dedupe, audit rows, the sinks. Schema id 1 is
reported as schema version 1, any other id as a version the contract does not list.

Run as ``python -m lakegate.testing.echo_job`` with the settings in the environment (like ``jobs.ingest``);
contracts must have no read models (the read-model operators are not part of this half).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from pyflink.datastream import MapFunction

from lakegate.testing import hotpath

log = logging.getLogger("lakegate.testing.echo_job")


def _varint(data: bytes, position: int) -> tuple[int, int]:
    raw, shift = 0, 0
    while True:
        byte = data[position]
        position += 1
        raw |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (raw >> 1) ^ -(raw & 1), position


def event_id_and_time(body: bytes) -> tuple[str, int]:
    """The first two fields of a body (a string and a long); IndexError/UnicodeDecodeError if it has none."""
    length, position = _varint(body, 0)
    if length < 0 or position + length > len(body):
        raise IndexError("the event id runs past the body")
    event_id = body[position : position + length].decode("utf-8")
    event_time, _ = _varint(body, position + length)
    return event_id, event_time


class EchoRoute(MapFunction):  # type: ignore[misc]  # pyflink is untyped
    """Result batch of an input batch (docs/hotpath.md), as described in the module's docstring."""

    def __init__(self, plan_json: str) -> None:
        self._plan_json = plan_json

    def open(self, runtime_context: Any) -> None:
        from udfs.columns import Column
        from udfs.quarantine import QUARANTINE_COLUMNS
        from udfs.rowcodec import RowEncoder

        plan = json.loads(self._plan_json)
        self._job = plan["job_name"]
        self._topics: list[str] = plan["topics"]
        self._contracts = {c["topic_index"]: (i, c["name"]) for i, c in enumerate(plan["contracts"])}
        columns: tuple[Column, ...] = QUARANTINE_COLUMNS
        self._rows = RowEncoder(columns)

    def map(self, batch: bytes) -> bytes:
        from udfs.router import now_ms

        now = now_ms()
        entries = []
        for record in hotpath.read_input_batch(bytes(batch)):
            value = record.value
            if value is None or len(value) < 5 or value[0] != 0:
                entries.append(self._quarantined(record, now))
                continue
            contract, _ = self._contracts[record.topic]
            schema_id = int.from_bytes(value[1:5], "big")
            try:
                event_id, event_time = event_id_and_time(value[5:])
            except (IndexError, UnicodeDecodeError):
                entries.append(self._quarantined(record, now))
                continue
            entry = hotpath.ValidEntry(
                contract=contract,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                timestamp_ms=record.timestamp_ms,
                schema_id=schema_id,
                schema_version=1 if schema_id == 1 else -1,
                ingest_time_ms=now,
                event_time_ms=event_time,
                event_id=event_id,
                key=record.key,
                value=value,
            )
            entries.append(entry.encode())
        return hotpath.result_batch(entries)

    def _quarantined(self, record: hotpath.InputRecord, now: int) -> bytes:
        from udfs.quarantine import quarantine_values
        from udfs.reasons import Reason
        from udfs.router import Quarantined, RawRecord, quarantine_headers

        raw = RawRecord(
            self._topics[record.topic], record.partition, record.offset, record.timestamp_ms, record.key, record.value
        )
        q = Quarantined(
            raw, Reason.bad_magic_byte, "not a framed value", None, "BadRecord", None, self._contracts[record.topic][1]
        )
        row = self._rows.encode(quarantine_values(q, self._job, now))
        return hotpath.quarantined_entry(row, quarantine_headers(q, self._job))


def run() -> str:
    """Build and run the job until its topics are drained (settings.drain) or forever; the Flink job id."""
    from pyflink.common import Types
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    from jobs import ingest, plan
    from jobs.runtime import stream_environment
    from lakegate import catalog
    from lakegate.offsets import lake_offsets
    from lakegate.settings import Settings
    from udfs.contract import load_contracts

    settings = Settings.load()
    contracts = load_contracts(settings.schemas_dir)
    ingest.provision(settings, contracts)
    start = lake_offsets(settings, contracts) if settings.start_from == "lake" else None
    text = plan.to_json(plan.build(settings, contracts, catalog.open_catalog(settings), start))
    env = stream_environment(settings)
    graph = get_gateway().jvm.io.lakegate.flink.ingest.IngestGraph

    batches = DataStream(graph.source(env._j_stream_execution_environment, text))
    routed = batches.map(EchoRoute(text), output_type=Types.PRIMITIVE_ARRAY(Types.BYTE())).name("route").uid("route")
    graph.sinks(routed._j_data_stream, text)
    result = env.execute(settings.job_name)
    return str(result.get_job_id())


def main() -> int:
    logging.basicConfig(level=logging.INFO)
    log.info("job finished: %s", run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
