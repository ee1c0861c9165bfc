"""The Java read models (jvm/src/io/lakegate/flink/models) against the Python folds (udfs/readmodels/).

Seeded random histories of a probe contract (tests/job/readmodel_probe: every column kind, PII hash and mask,
current models ordered by a field and by offset, aggregates with every measure, windows with and without
allowed lateness) go through ``udfs.readmodels.prepare`` and become the model events of docs/hotpath.md;
the Java side applies them in PyFlink's gateway JVM (a test-only driver, tests/job/jvm, answers one JSON
text per history), Python applies ``apply_current`` / ``apply_aggregate`` and ``change_json``. Per change:
same model, key, op, version, JSON (parsed; byte for byte unless it holds floats, whose spelling may
differ) and typed table row; with mini-batches, per batch and key the latest Python change. A small job on a
MiniCluster proves the operator, its timer, its pre-barrier flush and its end-of-input flush.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import math
import random
import shutil
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import fastavro
import pytest
from py4j.protocol import Py4JJavaError
from pyflink.java_gateway import get_gateway
from pyflink.util.java_utils import add_jars_to_context_class_loader
from pyiceberg.catalog.sql import SqlCatalog

from jobs import plan as job_plan
from lakegate import catalog, jvm, readmodels
from lakegate.settings import Settings
from udfs.columns import Column, ColumnKind
from udfs.contract import Contract, Contracts, load_contracts
from udfs.envelope import Envelope
from udfs.pii import treat
from udfs.readmodels import (
    DELETE,
    AggregateModel,
    Change,
    CurrentModel,
    ReadModel,
    apply_aggregate,
    apply_current,
    change_json,
    change_values,
    fold,
    key_text,
    model_columns,
    prepare,
)

pytestmark = pytest.mark.job

HERE = Path(__file__).resolve().parent
PROBE = HERE / "readmodel_probe"
PROBE_SOURCES = HERE / "jvm"
SALT = b"0123456789abcdef-deployment-salt"
T0 = 1_700_000_040_000  # a whole minute (UTC)
SEQUENCES = 300
TYPES = {
    ColumnKind.string: "string",
    ColumnKind.boolean: "boolean",
    ColumnKind.int: "integer",
    ColumnKind.long: "long",
    ColumnKind.float: "float",
    ColumnKind.double: "double",
    ColumnKind.bytes: "bytes",
    ColumnKind.timestamp_ms: "timestamp",
}


@dataclass(frozen=True, eq=False)  # hashed by identity (functools.cache in _columns)
class Setup:
    probe: Any  # the Java ModelProbe class
    plan: dict[str, Any]
    plan_json: str
    contracts: Contracts
    models: list[tuple[ReadModel, Contract]]  # in plan order
    jars: list[str]

    def index(self, model: str) -> int:
        return [m.name for m, _ in self.models].index(model)

    def columns(self, model: str) -> tuple[Column, ...]:
        return _columns(self, model)


@pytest.fixture(scope="module")
def setup(jvm_gateway: Any, lakegate_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    work = tmp_path_factory.mktemp("jvm-readmodels")
    schemas = work / "schemas"
    shutil.copytree(lakegate_settings.paths.schemas_dir, schemas, ignore=shutil.ignore_patterns("README.md"))
    shutil.copytree(PROBE, schemas / "probe")
    contracts = load_contracts(schemas)
    plan = _plan(lakegate_settings, contracts, work)

    runtime = jvm.runtime_jar(lakegate_settings)
    probe_jar = jvm.compile_jar(
        lakegate_settings, PROBE_SOURCES, work / "model-probe.jar", [*jvm.flink_compile_classpath(), runtime]
    )
    jars = [runtime.as_uri(), probe_jar.as_uri()]
    add_jars_to_context_class_loader([probe_jar.as_uri()])
    probe = jvm_gateway.jvm.io.lakegate.flink.models.probe.ModelProbe
    by_name = {m.name: (m, c) for c in contracts for m in c.read_models}
    models = [by_name[m["name"]] for m in plan["models"]]
    return Setup(probe, plan, job_plan.to_json(plan), contracts, models, jars)


@functools.cache
def _columns(setup: Setup, model: str) -> tuple[Column, ...]:
    return model_columns(*setup.models[setup.index(model)])


def _plan(settings: Settings, contracts: Contracts, work: Path) -> dict[str, Any]:
    """The job plan of ``contracts``, its table layouts from tables created in a private catalog."""
    iceberg = SqlCatalog("probe", uri=f"sqlite:///{work / 'catalog.db'}", warehouse=(work / "warehouse").as_uri())
    for contract in contracts:
        catalog.ensure_audit_table(iceberg, settings, contract)
        for model in contract.read_models:
            readmodels.ensure_table(iceberg, settings, model, contract)
    catalog.ensure_quarantine_table(iceberg, settings)
    return job_plan.build(settings, contracts, iceberg)


# -- histories ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    payload: dict[str, Any]  # as the route sees it: the reader-schema body decoded by fastavro
    body: bytes
    envelope: Envelope


def histories(setup: Setup, seed: int, *, size: tuple[int, int] = (1, 60), disorder: bool = True) -> list[Record]:
    """One random history of the probe contract: keys reused across event types and partitions, deletes
    before upserts, equal order values, nulls, NaN, extremes, unicode and control characters; with
    ``disorder``, producer retries and replays and event times that fall behind closed windows."""
    rng = random.Random(seed)
    contract = setup.contracts.by_name("probe")
    schema = fastavro.parse_schema(json.loads(contract.schema_texts[-1]))
    items = [f"I-{i}" for i in range(rng.randint(1, 6))]
    partitions = rng.randint(1, 3)
    next_offset = [rng.randint(0, 5) for _ in range(partitions)]
    event_time = T0 + rng.randint(0, 120_000)
    records: list[Record] = []
    for _ in range(rng.randint(*size)):
        if (
            disorder and records and rng.random() < 0.08
        ):  # a retry (new offset) or a replay (same offset) of an earlier record
            earlier = rng.choice(records)
            same = rng.random() < 0.5
            partition = earlier.envelope.partition
            offset = earlier.envelope.offset if same else next_offset[partition]
            next_offset[partition] += 0 if same else 1
            envelope = _envelope(contract, earlier.payload["event_time"], partition, offset)
            records.append(Record(earlier.payload, earlier.body, envelope))
            continue
        event_time += rng.choice([0, 1, 500, 3_000, 20_000, 70_000])
        if disorder and rng.random() < 0.25:  # back by any amount, or exactly to a window's closing point
            event_time -= rng.choice([rng.randint(0, 150_000), 10_000, 10_001, 90_000, 90_001])
        if rng.random() < 0.3:
            event_time -= (event_time - T0) % 10_000  # on a window boundary
        item = rng.choice(items)
        partition = (items.index(item) if rng.random() < 0.8 else rng.randint(0, 5)) % partitions
        value = _payload(rng, item, event_time)
        body = _avro(schema, value)
        payload = fastavro.schemaless_reader(io.BytesIO(body), schema, None)
        assert isinstance(payload, dict)
        records.append(Record(payload, body, _envelope(contract, event_time, partition, next_offset[partition])))
        next_offset[partition] += 1
    return records


def _payload(rng: random.Random, item: str, event_time: int) -> dict[str, Any]:
    return {
        "event_id": f"e-{rng.getrandbits(64):x}",
        "event_time": event_time,
        "event_type": rng.choice(["CREATED", "UPDATED", "UPDATED", "DELETED", "NOTED"]),
        "item_id": item,
        "account": rng.choice(["acme", "ünï", 'q"uote\\']),
        "region": rng.choice(["eu", "us", "ap\n\t\x01", "日本", "𝄞"]),
        "tier": rng.choice([0, 1, -7, 2**31 - 1]),
        "vip": rng.random() < 0.5,
        "seq": rng.randint(0, 12),
        "n": _maybe(rng, lambda: rng.choice([0, 1, -1, 17, 2**31 - 1, -(2**31), rng.randint(-1000, 1000)])),
        "big": _maybe(rng, lambda: rng.choice([0, 2**40, -(2**40), rng.randint(-(10**12), 10**12)])),
        "amount": _maybe(rng, lambda: rng.choice([0.0, -0.0, 0.1, 1e-300, 5e-324, 123456.789, math.nan, -2.5])),
        "ratio": _maybe(rng, lambda: _float32(rng.choice([0.1, -0.0, 3.4e38, 1e-45, math.nan, rng.uniform(-9, 9)]))),
        "at": _maybe(rng, lambda: rng.choice([0, -1, 1_600_000_000_000, 4_102_444_800_000, event_time])),
        "flag": _maybe(rng, lambda: rng.random() < 0.5),
        "blob": _maybe(rng, lambda: rng.choice([b"", b"\x00\xff", bytes(range(40)), b"plain"])),
        "email": _maybe(rng, lambda: rng.choice(["a@x.io", "ünï@x.io", ""])),
        "name": _maybe(rng, lambda: rng.choice(["Jane", "élodie", "", "𝄞 clef", '"quoted"'])),
        "note": _maybe(rng, lambda: rng.choice(["plain", "tab\there", "nul\x00byte", "back\\slash", "\u2028x"])),
        "secret": _maybe(rng, lambda: rng.choice([b"\x01\x02", b""])),
    }


def _maybe(rng: random.Random, value: Any) -> Any:
    return None if rng.random() < 0.25 else value()


def _float32(value: float) -> float:
    result: float = struct.unpack(">f", struct.pack(">f", value))[0]
    return result


def _avro(schema: Any, value: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, value)
    return out.getvalue()


def _envelope(contract: Contract, event_time: Any, partition: int, offset: int) -> Envelope:
    millis = event_time if isinstance(event_time, int) else round(event_time.timestamp() * 1000)
    return Envelope(f"e-{partition}-{offset}", millis, millis + 5, contract.topic, partition, offset, 1, 1, "lakegate")


# -- the model events of docs/hotpath.md -------------------------------------------------------------------

NO_WINDOW = -(2**63)


@dataclass(frozen=True)
class Applied:
    """One model event: its bytes for Java, and what Python's fold made of it."""

    event: bytes
    model: str
    change: Change | None


def model_events(setup: Setup, records: Sequence[Record]) -> list[Applied]:
    """Every model event of ``records`` in arrival order, with Python's change (watermark per model)."""
    states: dict[tuple[str, Any], Any] = {}
    watermarks: dict[str, int] = {}
    out: list[Applied] = []
    for record in records:
        for index, (model, contract) in enumerate(setup.models):
            if contract.name != "probe":
                continue
            event = prepare(model, contract, record.payload, record.envelope, SALT)
            if event is None:
                continue
            key = (model.name, event.key)
            if isinstance(model, CurrentModel):
                states[key], change = apply_current(model, states.get(key), event)
            else:
                assert isinstance(model, AggregateModel)
                watermark = max(watermarks.get(model.name, NO_WINDOW), record.envelope.event_time_ms)
                watermarks[model.name] = watermark
                states[key], change = apply_aggregate(model, states.get(key), event, watermark)
            out.append(Applied(encode_event(setup, index, contract, record, event), model.name, change))
    return out


def encode_event(setup: Setup, index: int, contract: Contract, record: Record, event: Any) -> bytes:
    spec = setup.plan["models"][index]
    window = event.key[-1] if spec["window"] else NO_WINDOW
    envelope = record.envelope
    head = struct.pack(
        ">HBqqiqqH",
        index,
        2 if event.op == DELETE else 1,
        event.order[0],
        window,
        envelope.partition,
        envelope.offset,
        envelope.event_time_ms,
        setup.plan["topics"].index(envelope.topic),
    )
    treated = treat(contract, {f: record.payload.get(f) for f in spec["treated"]}, SALT)
    values = [None if treated[f] is None else str(treated[f]).encode() for f in spec["treated"]]
    return (
        head
        + _string(key_text(event.key))
        + struct.pack(">H", len(values))
        + b"".join(_nullable(v) for v in values)
        + _nullable(record.body)
    )


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">i", len(data)) + data


def _nullable(data: bytes | None) -> bytes:
    return struct.pack(">i", -1) if data is None else struct.pack(">i", len(data)) + data


def _framed(events: Sequence[bytes]) -> bytes:
    return b"".join(_nullable(e) for e in events)


# -- comparing ---------------------------------------------------------------------------------------------


def replay(setup: Setup, applied: Sequence[Applied], flush_after: Sequence[bool]) -> dict[str, Any]:
    answer = setup.probe.replay(setup.plan_json, _framed([a.event for a in applied]), bytes(map(int, flush_after)))
    result: dict[str, Any] = json.loads(answer)
    return result


def naming(change: Change, event: Change) -> Change:
    """``change`` naming ``event``'s event (order, event time, topic, partition, offset) instead of its own."""
    return replace(
        change,
        order=event.order,
        event_time_ms=event.event_time_ms,
        topic=event.topic,
        partition=event.partition,
        offset=event.offset,
    )


def expected_batches(applied: Sequence[Applied], flush_after: Sequence[bool]) -> list[Change]:
    """Python's changes as the Java operator emits them: per mini-batch, the latest change per key, in the order
    keys first changed in the batch, naming the batch's newest event by order (only an aggregate's change can
    follow a newer one)."""
    out: list[Change] = []
    batch: dict[tuple[str, Any], Change] = {}
    for i, item in enumerate(applied):
        if item.change is not None:
            change, prior = item.change, batch.get((item.model, item.change.key))
            if prior is not None and prior.order > change.order:
                change = naming(change, prior)
            batch[(item.model, item.change.key)] = change
        if i == len(applied) - 1 or flush_after[i]:
            out.extend(batch.values())
            batch = {}
    return out


def assert_same_change(setup: Setup, java: dict[str, Any], python: Change) -> None:
    where = f"{python.model} {key_text(python.key)} v{python.version}"
    assert java["model"] == python.model, where
    assert java["delete"] == (python.op == DELETE), where
    changelog = java["changelog"]
    assert changelog["model_index"] == setup.index(python.model), where
    assert changelog["key"] == key_text(python.key), where
    want = change_json(python)
    if want is None:
        assert changelog["value"] is None, where
    else:
        got = changelog["value"]
        assert _same(json.loads(got), json.loads(want)), f"{where}: {got} != {want.decode()}"
        if not _has_float(json.loads(want)):
            assert got.encode() == want, where  # same bytes: escaping, separators, field order
    columns = setup.columns(python.model)
    for column, got_field, want_value in zip(columns, java["row"], change_values(python, columns), strict=True):
        assert _same_field(column, got_field, want_value), (
            f"{where} column {column.name}: {got_field} != {want_value!r}"
        )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and _same_number(float(a), float(b))
    return type(a) is type(b) and a == b


def _same_number(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


def _has_float(body: dict[str, Any]) -> bool:
    return any(isinstance(v, float) for v in body.values())


def _same_field(column: Column, got: list[str] | None, want: Any) -> bool:
    if got is None or want is None:
        return got is None and want is None
    kind, text = got
    if kind != TYPES[column.kind]:
        return False
    if column.kind in (ColumnKind.float, ColumnKind.double):
        return _same_number(float(text), float(want))
    if column.kind is ColumnKind.bytes:
        return bool(base64.b64decode(text) == want)
    if column.kind is ColumnKind.boolean:
        return text == str(want).lower()
    if column.kind is ColumnKind.string:
        return bool(text == want)
    return bool(int(text) == want)


def flush_points(rng: random.Random, count: int, every: float) -> list[bool]:
    return [rng.random() < every for _ in range(count)]


def sequences(setup: Setup) -> Iterator[tuple[int, list[Record], list[Applied]]]:
    for seed in range(SEQUENCES):
        records = histories(setup, seed)
        yield seed, records, model_events(setup, records)


# -- the tests ---------------------------------------------------------------------------------------------


def test_the_plan_names_each_models_key_columns(setup: Setup) -> None:
    for spec, (model, _) in zip(setup.plan["models"], setup.models, strict=True):
        names = [spec["columns"][i]["name"] for i in spec["key"]]
        if isinstance(model, CurrentModel):
            assert names == list(model.key)
        else:
            assert names == [*model.group_by, *(["window_start"] if model.window else [])]


def test_every_change_matches_python_when_flushed_per_event(setup: Setup) -> None:
    compared = 0
    for seed, _, applied in sequences(setup):
        result = replay(setup, applied, [True] * len(applied))
        want = [a.change for a in applied if a.change is not None]
        assert len(result["changes"]) == len(want), f"seed {seed}"
        for got, python in zip(result["changes"], want, strict=True):
            assert_same_change(setup, got, python)
        compared += len(want)
    assert compared > 10 * SEQUENCES  # the histories are not trivially empty


def test_mini_batches_emit_the_latest_change_per_key(setup: Setup) -> None:
    rng = random.Random(7)
    coalesced = 0
    for seed, _, applied in sequences(setup):
        flushes = flush_points(rng, len(applied), rng.choice([0.0, 0.05, 0.3]))
        result = replay(setup, applied, flushes)
        want = expected_batches(applied, flushes)
        assert len(result["changes"]) == len(want), f"seed {seed}"
        for got, python in zip(result["changes"], want, strict=True):
            assert_same_change(setup, got, python)
        coalesced += sum(a.change is not None for a in applied) - len(want)
    assert coalesced > SEQUENCES  # batches did merge changes


def test_final_rows_match_the_python_fold(setup: Setup) -> None:
    """The change log read back (highest version per key) is the model that Python's ``fold`` computes."""
    rng = random.Random(11)
    for seed, records, applied in sequences(setup):
        flushes = flush_points(rng, len(applied), 0.1)
        changes = replay(setup, applied, flushes)["changes"]
        for model, contract in setup.models:
            if contract.name != "probe":
                continue
            pairs = [(r.payload, r.envelope) for r in records]
            want = {key_text(k): row for k, row in fold(model, contract, pairs, SALT).items()}
            got = _rows_from_log([c for c in changes if c["model"] == model.name])
            assert set(got) == set(want), f"seed {seed} {model.name}"
            for key, row in want.items():
                body = {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in row.items()}
                assert _same_prefix(got[key], body), f"seed {seed} {model.name} {key}"


def _rows_from_log(changes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    latest: dict[str, tuple[int, dict[str, Any] | None]] = {}
    for change in changes:
        log = change["changelog"]
        value = None if log["value"] is None else json.loads(log["value"])
        version = int(change["row"][-1][1])  # lg_version is the last column
        if log["key"] not in latest or version > latest[log["key"]][0]:
            latest[log["key"]] = (version, value)
    return {key: value for key, (_, value) in latest.items() if value is not None}


def _same_prefix(got: dict[str, Any], row: dict[str, Any]) -> bool:
    """The JSON change holds the row (NaN as null), then _op, _version and provenance."""
    expected = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
    return _same({k: got[k] for k in expected}, expected) and list(got)[len(expected) :] == [
        "_op",
        "_version",
        "_topic",
        "_partition",
        "_offset",
    ]


def test_pending_changes_and_counters(setup: Setup) -> None:
    """Class level: one pending change per key until a flush; the counters count emitted changes per op."""
    records = histories(setup, 3)
    applied = [a for a in model_events(setup, records) if a.model == "probe_items"]
    result = replay(setup, applied, [False] * len(applied))
    keys: set[str] = set()
    for item, pending in zip(applied, result["pending_after"], strict=True):
        if item.change is not None:
            keys.add(key_text(item.change.key))
        assert pending == len(keys)
    assert len(result["changes"]) == len(keys)
    upserts = sum(not c["delete"] for c in result["changes"])
    deletes = len(result["changes"]) - upserts
    counted = result["counters"]
    assert counted.get("lakegate.model=probe_items.op=upsert.changes", 0) == upserts
    assert counted.get("lakegate.model=probe_items.op=delete.changes", 0) == deletes


def test_deletes_tombstones_and_versions(setup: Setup) -> None:
    """The rules spelled out: a delete of an unknown key is a change, and so is a newer delete of a deleted key
    (the table's latest row holds the state's order); a tombstone hides older upserts; versions continue
    across tombstones."""
    contract = setup.contracts.by_name("probe")
    schema = fastavro.parse_schema(json.loads(contract.schema_texts[-1]))
    rng = random.Random(1)

    def record(event_type: str, seq: int, offset: int) -> Record:
        value = {**_payload(rng, "I-1", T0), "event_type": event_type, "seq": seq}
        body = _avro(schema, value)
        payload = fastavro.schemaless_reader(io.BytesIO(body), schema, None)
        assert isinstance(payload, dict)
        return Record(payload, body, _envelope(contract, T0, 0, offset))

    history = [
        record("DELETED", 5, 0),  # unknown key: a change (v1, tombstone)
        record("DELETED", 6, 1),  # deleted already, newer: a change (v2), the tombstone moves to 6
        record("CREATED", 5, 2),  # older than the tombstone at (6, 0, 1): ignored
        record("UPDATED", 6, 3),  # same order value, later offset: wins (v3)
        record("UPDATED", 6, 3),  # the same event again: ignored
        record("DELETED", 7, 4),  # v4
    ]
    applied = [a for a in model_events(setup, history) if a.model == "probe_items"]
    result = replay(setup, applied, [True] * len(applied))
    got = [(c["delete"], int(c["row"][-1][1])) for c in result["changes"]]
    assert got == [(True, 1), (True, 2), (False, 3), (True, 4)]
    state = result["state_bytes"]
    assert state == {"probe_items\u0000" + key_text(("I-1",)): 30}  # the current state's fixed size


def test_aggregate_state_stays_small(setup: Setup) -> None:
    records = histories(setup, 5)
    applied = model_events(setup, records)
    sizes = replay(setup, applied, [False] * len(applied))["state_bytes"]
    by_model: dict[str, list[int]] = {}
    for key, size in sizes.items():
        by_model.setdefault(key.split("\u0000")[0], []).append(size)
    assert max(by_model["probe_strict_windows"]) < 24  # count and sum: no latest order tuple (20 bytes)
    assert max(by_model["probe_per_minute"]) < 100
    assert max(by_model["probe_by_region"]) < 400  # 24 measures, strings and bytes among them


def test_json_writer_escapes_like_python_and_nulls_non_finite_numbers(setup: Setup) -> None:
    jvm_ = get_gateway().jvm
    kinds = jvm_.io.lakegate.flink.models.ColumnKind
    texts = ["".join(map(chr, range(0x20))), 'q"uote\\', "ünï 日本 𝄞 \u2028 \x7f", ""]
    for text in texts:
        writer = jvm_.io.lakegate.flink.models.JsonWriter()
        writer.value(jvm_.org.apache.flink.table.data.StringData.fromString(text), kinds.STRING)
        assert bytes(writer.toByteArray()) == json.dumps(text, ensure_ascii=False).encode()
    for number, want in [(math.inf, b"null"), (-math.inf, b"null"), (math.nan, b"null"), (-0.0, b"-0.0")]:
        writer = jvm_.io.lakegate.flink.models.JsonWriter()
        writer.number(number)
        assert bytes(writer.toByteArray()) == want
    for number in (2**63 - 1, -(2**63), 0):
        writer = jvm_.io.lakegate.flink.models.JsonWriter()
        writer.number(number)
        assert json.loads(bytes(writer.toByteArray())) == number


def test_malformed_events_and_plans_fail_loudly(setup: Setup) -> None:
    applied = model_events(setup, histories(setup, 2, size=(3, 3)))
    event = applied[0].event
    with pytest.raises(Py4JJavaError, match="CorruptModelEvent"):
        replay(setup, [Applied(event[:-2], applied[0].model, None)], [True])
    with pytest.raises(Py4JJavaError, match=r"CorruptModelEvent.*model index"):
        replay(setup, [Applied(struct.pack(">H", 999) + event[2:], applied[0].model, None)], [True])
    aggregate = next(a for a in applied if a.model == "probe_by_region")
    deleting = aggregate.event[:2] + bytes([2]) + aggregate.event[3:]
    with pytest.raises(Py4JJavaError, match=r"CorruptModelEvent.*aggregates upsert"):
        replay(setup, [Applied(deleting, aggregate.model, None)], [True])
    plan = json.loads(setup.plan_json)
    plan["models"][[m["name"] for m in plan["models"]].index("probe_by_region")]["measures"][0]["fn"] = "median"
    with pytest.raises(Py4JJavaError, match=r"ModelPlanError.*unknown measure function 'median'"):
        setup.probe.replay(json.dumps(plan), _framed([event]), bytes([1]))


# -- a job ---------------------------------------------------------------------------------------------------


def run_job(setup: Setup, applied: Sequence[Applied], *, minibatch_ms: int, checkpoint_ms: int, pause_ms: int) -> Any:
    """``applied``'s events through ``ReadModelGraph.attach`` on a MiniCluster (read models at parallelism 2)."""
    gateway = get_gateway()
    jars = gateway.new_array(gateway.jvm.String, len(setup.jars))
    for i, uri in enumerate(setup.jars):
        jars[i] = uri
    plan = job_plan.to_json({**setup.plan, "minibatch_ms": minibatch_ms})
    events = _framed([a.event for a in applied])
    return json.loads(setup.probe.runJob(plan, events, jars, checkpoint_ms, pause_ms, 2))


def job_history(setup: Setup) -> list[Applied]:
    """Events whose times never go back, so no window is late on any subtask (each sees a part of the stream,
    so its watermark trails the whole stream's): the job's output is then exactly Python's."""
    records = histories(setup, 1234, size=(80, 80), disorder=False)
    return model_events(setup, records)


def changes_per_key(setup: Setup, outputs: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per (model, key text): its changelog elements in the order they were emitted."""
    names = [m.name for m, _ in setup.models]
    per_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for output in outputs:
        if "changelog" in output:
            log = output["changelog"]
            per_key.setdefault((names[log["model_index"]], log["key"]), []).append(log)
    return per_key


def assert_job_ends_like_python(setup: Setup, applied: Sequence[Applied], outputs: list[dict[str, Any]]) -> None:
    """Per key: as many table rows as changelog elements; the last changelog value and the highest-version row
    are those of Python's last change, naming (an aggregate's) newest event of the job's last mini-batch."""
    last: dict[tuple[str, str], Change] = {}
    by_offset: dict[tuple[str, str, int, int], Change] = {}
    for item in applied:
        if item.change is not None:
            last[(item.model, key_text(item.change.key))] = item.change
            by_offset[(item.model, key_text(item.change.key), item.change.partition, item.change.offset)] = item.change
    logs = changes_per_key(setup, outputs)
    for (model_name, key), python in list(last.items()):
        shown = logs[(model_name, key)][-1]["value"] if (model_name, key) in logs else None
        if shown is not None:  # which batches the job made is its timing's: the named event is one of the key's
            named = json.loads(shown)
            newest = by_offset[(model_name, key, named["_partition"], named["_offset"])]
            assert newest.order >= python.order, (model_name, key)
            last[(model_name, key)] = naming(python, newest)
    assert set(logs) == set(last)
    rows: dict[tuple[str, str], list[list[Any]]] = {}
    for output in outputs:
        if "table" in output:
            rows.setdefault((output["table"], _key_of(setup, output["table"], output["row"])), []).append(output["row"])
    assert {k: len(v) for k, v in rows.items()} == {k: len(v) for k, v in logs.items()}
    for (model_name, key), python in last.items():
        want = change_json(python)
        got = logs[(model_name, key)][-1]["value"]
        assert (got is None) if want is None else _same(json.loads(got), json.loads(want)), (model_name, key)
        columns = setup.columns(model_name)
        row = max(rows[(model_name, key)], key=lambda r: int(r[-1][1]))
        for column, field, value in zip(columns, row, change_values(python, columns), strict=True):
            assert _same_field(column, field, value), f"{model_name} {key} {column.name}"


def _key_of(setup: Setup, model: str, row: list[Any]) -> str:
    spec = next(m for m in setup.plan["models"] if m["name"] == model)
    values: list[Any] = []
    for i in spec["key"]:
        kind, text = row[i]
        values.append(
            int(text) if kind in ("integer", "long", "timestamp") else text == "true" if kind == "boolean" else text
        )
    return key_text(tuple(values))


def test_job_flushes_once_at_the_end_of_input(setup: Setup) -> None:
    """No timer fires (an hour's mini-batch) and no checkpoint is taken: one change per key, at the end."""
    applied = job_history(setup)
    outputs = run_job(setup, applied, minibatch_ms=3_600_000, checkpoint_ms=0, pause_ms=0)
    assert_job_ends_like_python(setup, applied, outputs)
    assert all(len(changes) == 1 for changes in changes_per_key(setup, outputs).values())


def test_job_flushes_before_each_checkpoint_barrier(setup: Setup) -> None:
    """No timer fires, but checkpoints during the input: a key changed across checkpoints is emitted per
    checkpoint, which only the pre-barrier flush does."""
    applied = job_history(setup)
    outputs = run_job(setup, applied, minibatch_ms=3_600_000, checkpoint_ms=100, pause_ms=20)
    assert_job_ends_like_python(setup, applied, outputs)
    assert max(len(changes) for changes in changes_per_key(setup, outputs).values()) > 1


def test_job_flushes_on_its_mini_batch_timer(setup: Setup) -> None:
    applied = job_history(setup)
    outputs = run_job(setup, applied, minibatch_ms=30, checkpoint_ms=0, pause_ms=10)
    assert_job_ends_like_python(setup, applied, outputs)
    assert max(len(changes) for changes in changes_per_key(setup, outputs).values()) > 1
