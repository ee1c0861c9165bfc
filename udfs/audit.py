"""The audit log's row of a valid record: its payload columns, then the envelope's ``lg_`` columns.

The Iceberg audit table (created by the control plane) and the Flink sink row both come from
:func:`audit_columns`, so table DDL and row values cannot drift apart. :func:`audit_values` turns a
:class:`~udfs.router.Valid` record into the row's values, one getter per column, built once per column
tuple and cached.

Invariant: ``audit_values(valid, columns)[i]`` is the value of ``columns[i]`` in the type its kind says
(enums and uuids as str, ``timestamp_ms`` as int epoch millis, ``bytes`` as bytes), taken from the payload
or, for an envelope column, from the :class:`~udfs.envelope.Envelope` attribute it maps to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from udfs.columns import Column, ColumnKind, as_epoch_millis, payload_columns
from udfs.contract import Contract
from udfs.envelope import ENVELOPE_ATTRIBUTES, ENVELOPE_COLUMNS
from udfs.router import Valid


def audit_columns(contract: Contract) -> tuple[Column, ...]:
    """Payload columns (reader-schema order) followed by the ``lg_`` envelope columns."""
    return payload_columns(contract.reader_schema_json, source=contract.directory) + ENVELOPE_COLUMNS


def audit_values(valid: Valid, columns: tuple[Column, ...]) -> tuple[object, ...]:
    """Row values in column order: enums as str, timestamp_ms as int epoch millis, bytes as bytes."""
    payload, envelope = valid.payload, valid.envelope
    return tuple([get(payload, envelope) for get in _getters(columns)])


_Getter = Callable[[Mapping[str, object], object], object]
_getter_cache: dict[int, tuple[tuple[Column, ...], tuple[_Getter, ...]]] = {}


def _getters(columns: tuple[Column, ...]) -> tuple[_Getter, ...]:
    cached = _getter_cache.get(id(columns))
    if cached is not None and cached[0] is columns:
        return cached[1]
    getters = tuple(
        _envelope_getter(ENVELOPE_ATTRIBUTES[c.name]) if c.name in ENVELOPE_ATTRIBUTES else _payload_getter(c)
        for c in columns
    )
    if len(_getter_cache) > 256:
        _getter_cache.clear()
    _getter_cache[id(columns)] = (columns, getters)  # keeps columns alive, so the id stays unique
    return getters


def _envelope_getter(attribute: str) -> _Getter:
    return lambda _payload, envelope: getattr(envelope, attribute)


def _payload_getter(column: Column) -> _Getter:
    name = column.name
    if column.kind is ColumnKind.timestamp_ms:
        return lambda payload, _env: as_epoch_millis(payload.get(name))
    if column.kind is ColumnKind.string:
        return lambda payload, _env: _text(payload.get(name))
    if column.kind is ColumnKind.bytes:
        return lambda payload, _env: _bytes(payload.get(name))
    return lambda payload, _env: payload.get(name)


def _text(value: object) -> object:
    return value if value is None or type(value) is str else str(value)  # uuid.UUID, enum-like objects


def _bytes(value: object) -> object:
    return value if value is None or type(value) is bytes else bytes(value)  # type: ignore[call-overload]
