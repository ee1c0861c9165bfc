"""A fresh start's read-model state, rebuilt from the model tables (docs/resume.md, "Read models").

A job started without a checkpoint has no keyed state for the ``read_models`` operator. Each model table is a
change log whose latest row per key (highest ``lg_version``) holds what the state held after that change: the
order tuple, whether the key is deleted and the version (current models), the measure values and the version
(aggregates). This module turns those rows into the operator's state byte strings
(``io.lakegate.flink.models.StateCodec``'s layout) under the operator's state keys (model name, NUL, key
text), and writes them to one file the operator reads at start (``ModelStateFile``): it seeds a key's state
the first time the key meets an event. The model events a table already holds are dropped on the way
(``resume.held``), so each event is folded once.
"""

from __future__ import annotations

import logging
import struct
import uuid
from collections.abc import Iterable, Iterator

import pyarrow as pa

from lakegate import readmodels
from lakegate.logs import kv
from lakegate.warehouse import Location
from udfs.columns import as_epoch_millis
from udfs.readmodels import CurrentModel, ReadModel, key_text

log = logging.getLogger(__name__)

MAGIC = b"LGMS1"
_CURRENT, _AGGREGATE = 1, 2
_NULL, _FALSE, _TRUE, _LONG, _DOUBLE, _STRING, _BYTES = range(7)
DELETE = "delete"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def plain(value: object) -> object:
    """A table value as the state and the changelog hold it: timestamps as epoch millis."""
    return as_epoch_millis(value)


def _value(value: object) -> bytes:
    value = plain(value)
    if value is None:
        return bytes([_NULL])
    if isinstance(value, bool):
        return bytes([_TRUE if value else _FALSE])
    if isinstance(value, int):
        return bytes([_LONG]) + _varint(((value << 1) ^ (value >> 63)) & (2**64 - 1))
    if isinstance(value, float):
        return bytes([_DOUBLE]) + struct.pack(">d", value)
    if isinstance(value, str):
        utf8 = value.encode("utf-8")
        return bytes([_STRING]) + _varint(len(utf8)) + utf8
    if isinstance(value, bytes):
        return bytes([_BYTES]) + _varint(len(value)) + value
    raise TypeError(f"a model value of type {type(value).__name__} has no state encoding")


def encode_current(order: int, partition: int, offset: int, deleted: bool, version: int) -> bytes:
    return struct.pack(">BqiqBq", _CURRENT, order, partition, offset, 1 if deleted else 0, version)


def encode_aggregate(version: int, latest: tuple[int, int, int] | None, measures: list[tuple[int, object]]) -> bytes:
    out = bytearray([_AGGREGATE]) + _varint(version)
    out.append(1 if latest is not None else 0)
    if latest is not None:
        out += struct.pack(">qiq", *latest)
    out += _varint(len(measures))
    for count, value in measures:
        out += _varint(count) + _value(value)
    return bytes(out)


def states(model: ReadModel, rows: pa.Table) -> Iterator[tuple[str, bytes]]:
    """(state key, state bytes) per key of the model's change log ``rows``."""
    if rows.num_rows == 0:
        return
    keys = readmodels.key_columns(model)
    latest: dict[tuple[object, ...], dict[str, object]] = {}
    newest: dict[tuple[object, ...], tuple[int, int, int]] = {}
    for row in rows.to_pylist():
        key = tuple(plain(row[k]) for k in keys)
        if key not in latest or row["lg_version"] > latest[key]["lg_version"]:
            latest[key] = row
        order = (row["lg_order"], row["lg_partition"], row["lg_offset"])
        newest[key] = max(newest.get(key, order), order)
    for key, row in latest.items():
        state_key = f"{model.name}\u0000{key_text(key)}"
        version = int(row["lg_version"])  # type: ignore[call-overload]
        if isinstance(model, CurrentModel):
            order = (int(row["lg_order"]), int(row["lg_partition"]), int(row["lg_offset"]))  # type: ignore[call-overload]
            yield state_key, encode_current(*order, row["lg_op"] == DELETE, version)
            continue
        tracks_latest = any(m.fn == "latest" for m in model.measures)
        measures = []
        for m in model.measures:
            value = plain(row[m.name])
            if m.fn == "count":
                measures.append((int(value or 0), value))  # type: ignore[call-overload]
            else:
                measures.append((0 if value is None else 1, value))
        yield state_key, encode_aggregate(version, newest[key] if tracks_latest else None, measures)


def write(path: Location, entries: Iterator[tuple[str, bytes]]) -> int:
    """The state file: MAGIC, then per entry u32 key length, key (UTF-8), u32 state length, state."""
    count = 0
    with path.write_atomically() as out:
        out.write(MAGIC)
        for key, state in entries:
            encoded = key.encode("utf-8")
            out.write(struct.pack(">I", len(encoded)) + encoded + struct.pack(">I", len(state)) + state)
            count += 1
    return count


def bootstrap(folder: Location, logs: Iterable[tuple[ReadModel, pa.Table]]) -> str:
    """Writes the state of every model in ``logs`` (its change log's rows) under ``folder``, replacing earlier
    files; the file's URI, or "" when no model table holds a row."""

    def entries() -> Iterator[tuple[str, bytes]]:
        for model, rows in logs:
            yield from states(model, rows)

    for old in folder.files(recursive=False):  # not the journal's files in the job folders below
        if old.name.startswith("model-state-") and old.name.endswith(".bin"):
            old.delete()
    path = folder / f"model-state-{uuid.uuid4().hex}.bin"
    count = write(path, entries())
    log.info("read-model state rebuilt from the model tables", extra=kv(keys=count, file=path.uri))
    if count == 0:
        path.delete()
        return ""
    return path.uri
