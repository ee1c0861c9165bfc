"""What one crossing of PyFlink's Java↔Python boundary costs in thread mode, by kind of crossing.

Usage:  .venv/bin/python -m bench.boundary [--records 200000] [--repeats 2]

Tiny jobs on a MiniCluster (thread mode, parallelism 1): a JVM ``datagen`` source of ``--records`` rows (8-char
key, 850 random bytes) → keyed on the JVM → one Python ``KeyedProcessFunction`` → discarding sinks. The
variants differ only in what the function does per record: nothing, 1 or 4 ``bytes`` side outputs, one
20-field row side output, ``MapState.contains`` + ``put``, ``ValueState.value`` + ``update``. A variant's extra
time over the baseline, per record and crossing it adds, is the cost per crossing; a first, uncounted job
warms the JVM up. Appends one JSON record to bench/results/boundary.jsonl. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyflink.common import Configuration, Row, Types
from pyflink.datastream import DataStream, KeyedProcessFunction, KeyedStream, OutputTag, StreamExecutionEnvironment
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, TableDescriptor
from pyflink.table.expressions import col, row

from bench.modes import machine
from jobs.runtime import _python_path

RESULTS = Path(__file__).resolve().parent / "results" / "boundary.jsonl"
ROW_FIELDS = 20
# name → (crossings added per record over "input only", description)
VARIANTS: dict[str, tuple[int, str]] = {
    "input only": (0, "the record crosses into Python; nothing comes back"),
    "1 side output, bytes": (1, "yield (tag, 850 bytes)"),
    "4 side outputs, bytes": (4, "yield (tag, 850 bytes) four times"),
    "1 side output, 20-field row": (1, "yield (tag, Row of 20 fields: 10 strings, 10 longs)"),
    "MapState contains+put": (2, "seen.contains(k); seen.put(k, True)"),
    "ValueState value+update": (2, "state.value(); state.update(k)"),
    "2nd Python operator": (
        2,
        "yield (k, 850 bytes) to a second keyed Python operator (input only): the "
        "output and the second input crossing, and two threads sharing one GIL",
    ),
}


def _key_by_first_field(stream: DataStream) -> KeyedStream:
    """Key by field 0 on the JVM, with PyFlink's own JVM key selector: ``DataStream.key_by`` would run a Python
    key selector, one more Java↔Python round trip of every record, and blur what the variants measure."""
    key_type = Types.ROW([Types.STRING()])
    j_keyed = stream._j_data_stream.keyBy(get_gateway().jvm.KeyByKeySelector(), key_type.get_java_type_info())
    return KeyedStream(j_keyed, None, stream)  # the original type is only used by KeyedStream.map & co.


def _function(variant: str) -> Any:
    bytes_tag = OutputTag("bytes", Types.PRIMITIVE_ARRAY(Types.BYTE()))
    row_tag = OutputTag("row", _row_type())

    class Probe(KeyedProcessFunction):  # type: ignore[misc]  # pyflink is untyped
        def open(self, runtime_context: Any) -> None:
            self._map = runtime_context.get_map_state(MapStateDescriptor("m", Types.STRING(), Types.BOOLEAN()))
            self._value = runtime_context.get_state(ValueStateDescriptor("v", Types.STRING()))
            self._row = Row(*(["text value"] * (ROW_FIELDS // 2) + [1234567] * (ROW_FIELDS // 2)))

        def process_element(self, value: Row, ctx: Any) -> Iterator[Any]:
            payload = bytes(value[0])
            if variant == "1 side output, bytes":
                yield bytes_tag, payload
            elif variant == "4 side outputs, bytes":
                for _ in range(4):
                    yield bytes_tag, payload
            elif variant == "1 side output, 20-field row":
                yield row_tag, self._row
            elif variant == "MapState contains+put":
                key = ctx.get_current_key()[0]
                if not self._map.contains(key):
                    self._map.put(key, True)
            elif variant == "ValueState value+update":
                self._value.value()
                self._value.update("seen")
            elif variant == "2nd Python operator":
                yield Row(ctx.get_current_key()[0], Row(payload))

    return Probe(), bytes_tag, row_tag


def _row_type() -> Any:
    half = ROW_FIELDS // 2
    return Types.ROW_NAMED([f"f{i}" for i in range(ROW_FIELDS)], [Types.STRING()] * half + [Types.LONG()] * half)


def run(variant: str, records: int) -> float:
    """Net runtime (s) of one job of ``variant`` over ``records`` rows."""
    conf = Configuration()
    for key, value in {
        "python.execution-mode": "thread",
        "python.executable": sys.executable,
        "python.pythonpath": ":".join(_python_path()),
        "parallelism.default": "1",
        "rest.bind-address": "127.0.0.1",
        "rest.address": "127.0.0.1",
        "taskmanager.memory.managed.size": "128m",
    }.items():
        conf.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    t_env = StreamTableEnvironment.create(env)
    source = (
        TableDescriptor.for_connector("datagen")
        .schema(Schema.new_builder().column("k", DataTypes.STRING()).column("v", DataTypes.BYTES()).build())
        .option("number-of-rows", str(records))
        .option("rows-per-second", "100000000")
        .option("fields.k.length", "8")
        .option("fields.v.length", "850")
        .build()
    )
    t_env.create_temporary_table("source", source)
    keyed_type = Types.ROW_NAMED(
        ["k", "record"], [Types.STRING(), Types.ROW_NAMED(["v"], [Types.PRIMITIVE_ARRAY(Types.BYTE())])]
    )
    stream = t_env.to_append_stream(
        t_env.from_path("source").select(col("k"), row(col("v")).alias("record")), keyed_type
    )
    function, bytes_tag, row_tag = _function(variant)
    if variant == "2nd Python operator":
        probed = _key_by_first_field(stream).process(function, output_type=keyed_type).name("probe").uid("probe")
        second, _, _ = _function("input only")
        probed = _key_by_first_field(probed).process(second, output_type=Types.STRING()).name("second").uid("second")
    else:
        probed = _key_by_first_field(stream).process(function, output_type=Types.STRING()).name("probe").uid("probe")
    sink = get_gateway().jvm.org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink
    for out in (probed, probed.get_side_output(bytes_tag), probed.get_side_output(row_tag)):
        DataStream(out._j_data_stream.sinkTo(sink()))
    result = env.execute(f"boundary-{variant}")
    return float(result.get_net_runtime()) / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.boundary", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.monotonic()
    run("input only", args.records)  # warm-up, not counted: the first job in a JVM runs colder code
    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for repeat in range(args.repeats):
        order = list(VARIANTS) if repeat % 2 == 0 else list(reversed(VARIANTS))
        for variant in order:
            seconds[variant].append(run(variant, args.records))
            print(f"  r{repeat} {variant:30s} {seconds[variant][-1]:7.2f} s", flush=True)
    base = statistics.median(seconds["input only"])
    rows = []
    print(f"\n{'variant':30s} {'net s':>7s} {'records/s':>10s} {'µs per crossing':>16s}")
    for variant, (crossings, what) in VARIANTS.items():
        net = statistics.median(seconds[variant])
        per = (net - base) / (args.records * crossings) * 1e6 if crossings else None
        rows.append(
            {
                "variant": variant,
                "what": what,
                "crossings_added": crossings,
                "net_s": round(net, 2),
                "records_per_s": round(args.records / net),
                "us_per_crossing": None if per is None else round(per, 1),
                "runs_s": [round(s, 2) for s in seconds[variant]],
            }
        )
        print(f"{variant:30s} {net:7.2f} {args.records / net:10,.0f} {'' if per is None else f'{per:16.1f}'}")
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": machine(),
        "records": args.records,
        "elapsed_s": round(time.monotonic() - started),
        "variants": rows,
    }
    with args.results.open("a") as out:
        out.write(json.dumps(record) + "\n")
    print(f"recorded in {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
