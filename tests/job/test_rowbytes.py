"""The Python → JVM row hand-over (udfs/rowcodec.py → jvm/src/.../AvroRowDecoder.java), in the real JVM.

The ingest test checks whole audit rows end to end; this one covers every column kind, nulls, edge values
and malformed input, through the decoder class the jobs use, in PyFlink's gateway JVM (no job needed).
"""

from __future__ import annotations

import struct

import pytest
from py4j.protocol import Py4JJavaError

from jobs import rowbytes
from lakegate.settings import Settings
from udfs.columns import Column, ColumnKind
from udfs.rowcodec import RowEncoder

pytestmark = pytest.mark.job

COLUMNS = (
    Column("s", ColumnKind.string, False),
    Column("b", ColumnKind.boolean, False),
    Column("i", ColumnKind.int, False),
    Column("l", ColumnKind.long, False),
    Column("f", ColumnKind.float, False),
    Column("d", ColumnKind.double, False),
    Column("raw", ColumnKind.bytes, False),
    Column("t", ColumnKind.timestamp_ms, False),
    Column("maybe_s", ColumnKind.string, True),
    Column("maybe_i", ColumnKind.int, True),
    Column("maybe_t", ColumnKind.timestamp_ms, True),
)

ROWS = [
    ("plain", True, 0, 0, 0.0, 0.0, b"", 0, None, None, None),
    ("ünïcødé ✓ 𝄞", False, -1, -1, -1.5, -2.25, b"\x00\xff\x80", -1, "", 0, 0),
    (
        "x" * 5000,
        True,
        2**31 - 1,
        2**63 - 1,
        3.4e38,
        1.7976931348623157e308,
        bytes(range(256)) * 4,
        1_700_000_000_123,
        "set",
        -(2**31),
        4_102_444_800_000,
    ),
    ("min", False, -(2**31), -(2**63), 1e-45, 5e-324, b"a", -62_135_596_800_000, None, 7, None),
]


@pytest.fixture(scope="module")
def decoder(lakegate_gateway: object) -> object:
    return rowbytes.decoder(COLUMNS)


def _python_values(row: object) -> tuple[object, ...]:
    """A decoded Java GenericRowData as Python values comparable with ROWS."""
    out: list[object] = []
    for i, column in enumerate(COLUMNS):
        value = row.getField(i)  # type: ignore[attr-defined]
        if value is None:
            out.append(None)
        elif column.kind is ColumnKind.string:
            out.append(value.toString())
        elif column.kind is ColumnKind.timestamp_ms:
            out.append(value.getMillisecond())
        elif column.kind is ColumnKind.bytes:
            out.append(bytes(value))
        else:
            out.append(value)
    return tuple(out)


@pytest.mark.parametrize("values", ROWS, ids=["zeros-and-nulls", "unicode-negative", "maxima", "minima"])
def test_every_kind_round_trips(decoder, values: tuple[object, ...]) -> None:  # type: ignore[no-untyped-def]
    decoded = _python_values(decoder.decode(RowEncoder(COLUMNS).encode(values)))
    for column, got, want in zip(COLUMNS, decoded, values, strict=True):
        if column.kind is ColumnKind.float and isinstance(want, float):
            assert _float32(got) == _float32(want), column.name  # Avro's float is 32 bits
        else:
            assert got == want, column.name


def _float32(value: float) -> float:
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


def test_malformed_rows_fail_loudly(decoder) -> None:  # type: ignore[no-untyped-def]
    encoded = RowEncoder(COLUMNS).encode(ROWS[1])
    with pytest.raises(Py4JJavaError, match=r"truncated|runs past the end"):
        decoder.decode(encoded[:-3])
    with pytest.raises(Py4JJavaError, match="bytes left after the last"):
        decoder.decode(encoded + b"\x00")
    with pytest.raises(Py4JJavaError, match="union branch"):
        decoder.decode(RowEncoder(COLUMNS).encode(ROWS[0])[:-1] + b"\x04")  # last field: branch 2


def test_the_decoder_refuses_mismatched_column_descriptions(lakegate_settings: Settings, decoder) -> None:  # type: ignore[no-untyped-def]
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    kinds = gateway.new_array(gateway.jvm.String, 1)
    kinds[0] = "decimal"
    flags = gateway.new_array(gateway.jvm.boolean, 1)
    with pytest.raises(Py4JJavaError, match="DECIMAL"):
        gateway.jvm.io.lakegate.flink.AvroRowDecoder(kinds, flags)
    with pytest.raises(Py4JJavaError, match="1 kinds but 0 nullability flags"):
        gateway.jvm.io.lakegate.flink.AvroRowDecoder(kinds, gateway.new_array(gateway.jvm.boolean, 0))
