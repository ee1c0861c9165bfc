"""udfs.rowcodec: rows as one Avro byte string (the JVM side is tested in tests/job/test_rowbytes.py)."""

from __future__ import annotations

import io

import fastavro
import pytest

from udfs.columns import Column, ColumnKind
from udfs.rowcodec import RowEncoder, avro_schema, decode

COLUMNS = (
    Column("s", ColumnKind.string, False),
    Column("b", ColumnKind.boolean, False),
    Column("i", ColumnKind.int, False),
    Column("l", ColumnKind.long, False),
    Column("d", ColumnKind.double, False),
    Column("raw", ColumnKind.bytes, False),
    Column("t", ColumnKind.timestamp_ms, False),
    Column("maybe", ColumnKind.string, True),
)


def test_rows_round_trip_with_nulls_and_unicode() -> None:
    encoder = RowEncoder(COLUMNS)
    for values in [
        ("ü ✓", True, -5, 2**62, -0.5, b"\x00\xff", 1_700_000_000_000, None),
        ("", False, 0, 0, 0.0, b"", 0, "set"),
    ]:
        assert decode(COLUMNS, encoder.encode(values)) == values


def test_the_bytes_are_plain_avro_of_the_documented_schema() -> None:
    """What AvroRowDecoder.java reads: null first in unions, timestamps as longs, fields in column order."""
    schema = avro_schema(COLUMNS)
    assert [f["type"] for f in schema["fields"]] == [
        "string",
        "boolean",
        "int",
        "long",
        "double",
        "bytes",
        "long",
        ["null", "string"],
    ]
    values = ("x", True, 1, 2, 3.0, b"r", 4, "m")
    encoded = RowEncoder(COLUMNS).encode(values)
    record = fastavro.schemaless_reader(io.BytesIO(encoded), fastavro.parse_schema(schema), None)
    assert record == dict(zip([c.name for c in COLUMNS], values, strict=True))
    assert encoded.endswith(b"\x02\x02m")  # union branch 1 (zig-zag 2), length 1 (zig-zag 2), "m"


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (("x", True, 1, 2, 3.0, b"r", 4), "7 values for 8 columns"),
        ((None, True, 1, 2, 3.0, b"r", 4, None), "does not fit"),
        (("x", True, "one", 2, 3.0, b"r", 4, None), "does not fit"),
    ],
)
def test_rows_that_do_not_fit_the_columns_are_refused(values: tuple[object, ...], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        RowEncoder(COLUMNS).encode(values)
