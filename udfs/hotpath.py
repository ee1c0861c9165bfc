"""The hot path's Python half: one input batch in, one result batch out (docs/hotpath.md).

:class:`BatchRouter` decides every record of a batch with :class:`udfs.router.Router` and writes the result
with :class:`udfs.batch.ResultWriter`: a quarantined record as its quarantine row and dead-letter headers, a
valid one with its coordinates, envelope facts, original bytes, its body re-encoded with the reader schema
when the writer's differs (after :func:`udfs.decode.check_indexes`), and one model event per read model that
takes it, as :func:`udfs.readmodels.prepare` computes it. Duplicates are decided on the JVM, not here.

Invariant: stateless and pure. :meth:`BatchRouter.route` never raises for bad data; a registry outage
(:class:`~udfs.errors.RegistryUnavailable`) and a malformed batch (ValueError, a bug) propagate.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, Protocol

import fastavro

from udfs.batch import DELETE, NO_TIMESTAMP, NO_WINDOW, UPSERT, ResultWriter, model_event, read_input
from udfs.contract import Contract, Contracts
from udfs.decode import check_indexes, plain_schema
from udfs.envelope import Envelope
from udfs.errors import BadRecord
from udfs.pii import MASK, MIN_SALT_BYTES
from udfs.quarantine import QUARANTINE_COLUMNS, quarantine_values
from udfs.readmodels import OFFSET, AggregateModel, CurrentModel, ReadModel
from udfs.reasons import Reason
from udfs.registry import SchemaSource
from udfs.router import Quarantined, RawRecord, Router, Valid, now_ms, quarantine_headers
from udfs.rowcodec import RowEncoder

NO_VERSION = -1  # a valid entry's schema version when the contract does not list the writer schema
_NO_TEXTS: Mapping[str, str | None] = {}  # a record's treated values when its contract treats none
_TREATED = ("hash", "mask")
# udfs.readmodels.key_text's JSON encoder, built once (json.dumps builds one per call); see _key_text.
_KEY_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(slots=True)
class BatchStats:
    """What the records of one batch came to, for metrics (filled only when there is an observer)."""

    # (contract, schema version, route seconds, freshness seconds) per valid record
    valid: list[tuple[str, int | None, float, float]]
    # (topic, verdict, route seconds) per quarantined record
    quarantined: list[tuple[str, Quarantined, float]]


class RouteObserver(Protocol):
    """Told once per batch what its records came to (metrics; jobs.metrics.RouteMetrics is one)."""

    def batch_routed(self, stats: BatchStats) -> None: ...


# -- the plan's indexes ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanModel:
    name: str
    contract_index: int
    treated: tuple[str, ...]  # PII-treated fields, in the order of a model event's values


@dataclass(frozen=True, slots=True)
class PlanContract:
    name: str
    topic_index: int


@dataclass(frozen=True, slots=True)
class PlanIndexes:
    """What the route needs of the job's plan (jobs/plan.py): the lists the batches' indexes refer to."""

    topics: tuple[str, ...]
    contracts: tuple[PlanContract, ...]
    models: tuple[PlanModel, ...]

    @classmethod
    def from_plan(cls, plan: Mapping[str, Any]) -> PlanIndexes:
        return cls(
            topics=tuple(plan["topics"]),
            contracts=tuple(PlanContract(c["name"], c["topic_index"]) for c in plan["contracts"]),
            models=tuple(PlanModel(m["name"], m["contract_index"], tuple(m["treated"])) for m in plan["models"]),
        )


# -- per contract and model, built once ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ModelSpec:
    """One read model reduced to what its model events need."""

    index: int
    current: bool  # a current model; an aggregate upserts every record
    upsert_on: frozenset[str]
    delete_on: frozenset[str]
    event_type_field: str
    order_by: str | None  # None: the Kafka offset
    window_ms: int  # 0: no window
    key: tuple[tuple[str, bool], ...]  # (field, hashed)
    hashed_key: bool  # a key field is PII-hashed
    treated: tuple[str, ...]  # the fields of the model event's treated values, in order


@dataclass(frozen=True, slots=True)
class _ContractRoute:
    index: int
    contract: Contract
    latest_version: int  # a writer schema of this version is the reader schema: body kind 0
    reader: object  # the reader schema without logical types, for re-encoding payloads
    models: tuple[_ModelSpec, ...]
    events: tuple[_EventFn, ...]  # per model, in plan order: its model event of a record
    treated: tuple[tuple[str, str], ...]  # (field, "hash" | "mask") of every model's treated fields


def _model_spec(index: int, model: ReadModel, contract: Contract, treated: Sequence[str]) -> _ModelSpec:
    if isinstance(model, CurrentModel):
        key, fields = model.key, (*model.key, *model.fields)
        upsert_on, delete_on, event_type_field = model.upsert_on, model.delete_on, model.event_type_field
    else:
        key, fields = model.group_by, (*model.group_by, *(m.field for m in model.measures if m.field))
        upsert_on, delete_on, event_type_field = frozenset(), frozenset(), ""
    expected = list(dict.fromkeys(f for f in fields if contract.pii.get(f) in _TREATED))
    if list(treated) != expected:
        raise ValueError(
            f"the plan treats {list(treated)} of model {model.name!r}, its contract {expected}: "
            "the plan was built from other contracts"
        )
    window = model.window if isinstance(model, AggregateModel) else None
    return _ModelSpec(
        index=index,
        current=isinstance(model, CurrentModel),
        upsert_on=upsert_on,
        delete_on=delete_on,
        event_type_field=event_type_field,
        order_by=None if model.order_by == OFFSET else model.order_by,
        window_ms=window.size_ms if window is not None else 0,
        key=tuple((f, contract.pii.get(f) == "hash") for f in key),
        hashed_key=any(contract.pii.get(f) == "hash" for f in key),
        treated=tuple(treated),
    )


# A model's event of a record (payload, envelope, the record's treated values), or None when it ignores it.
_EventFn = Callable[[Mapping[str, object], Envelope, Mapping[str, str | None]], bytes | None]


def _event_fn(spec: _ModelSpec) -> _EventFn:
    """:func:`udfs.readmodels.prepare` for one model, as a model event: the spec's choices are bound here,
    once, so the function does only what the record needs (it runs per record and model)."""
    index, current, upsert_on, delete_on = spec.index, spec.current, spec.upsert_on, spec.delete_on
    type_field, order_by, window_ms, key, treated = (
        spec.event_type_field,
        spec.order_by,
        spec.window_ms,
        spec.key,
        spec.treated,
    )
    single = key[0][0] if len(key) == 1 and not spec.hashed_key else None  # one plain key field

    def event(payload: Mapping[str, object], envelope: Envelope, texts: Mapping[str, str | None]) -> bytes | None:
        op = UPSERT
        if current:
            event_type = payload.get(type_field)
            if event_type not in upsert_on:
                if event_type not in delete_on:
                    return None  # the model ignores this event type
                op = DELETE
        if order_by is None:
            order = envelope.offset
        else:
            found = payload.get(order_by)
            order = found if type(found) is int else _order(order_by, payload)
        window_start = envelope.event_time_ms - envelope.event_time_ms % window_ms if window_ms else NO_WINDOW
        if single is not None and type(value := payload.get(single)) is str:  # the common key: key_text inline
            tail = "," + int.__repr__(window_start) + "]" if window_ms else "]"
            text = "[" + encode_basestring(value) + tail
        else:
            values = [texts[field] if hashed else payload.get(field) for field, hashed in key]
            if window_ms:
                values.append(window_start)
            text = _key_text(values)
        treated_values = (
            [None if (t := texts[field]) is None else t.encode("utf-8") for field in treated] if treated else ()
        )
        return model_event(index, op, order, window_start, text.encode("utf-8"), treated_values)

    return event


def _contract_routes(contracts: Contracts, plan: PlanIndexes) -> dict[str, _ContractRoute]:
    loaded = {c.name for c in contracts}
    planned = [c.name for c in plan.contracts]
    if sorted(planned) != sorted(loaded):
        raise ValueError(f"the plan's contracts {planned} are not the loaded ones {sorted(loaded)}")
    routes = {}
    for index, planned_contract in enumerate(plan.contracts):
        contract = contracts.by_name(planned_contract.name)
        if plan.topics[planned_contract.topic_index] != contract.topic:
            raise ValueError(f"the plan reads contract {contract.name!r} from another topic than {contract.topic!r}")
        by_name = {m.name: m for m in contract.read_models}
        specs = []
        for model_index, planned_model in enumerate(plan.models):
            if planned_model.contract_index != index:
                continue
            if planned_model.name not in by_name:
                raise ValueError(f"the plan's model {planned_model.name!r} is not one of {contract.name!r}'s")
            specs.append(_model_spec(model_index, by_name[planned_model.name], contract, planned_model.treated))
        if len(specs) != len(by_name):
            raise ValueError(f"the plan lacks read models of contract {contract.name!r}")
        routes[contract.name] = _ContractRoute(
            index=index,
            contract=contract,
            latest_version=len(contract.schema_texts),
            reader=plain_schema(contract.reader_schema),
            models=tuple(specs),
            events=tuple(_event_fn(spec) for spec in specs),
            treated=tuple((f, contract.pii[f]) for f in dict.fromkeys(f for m in specs for f in m.treated)),
        )
    return routes


# -- the router ------------------------------------------------------------------------------------------


class BatchRouter:
    """Routes input batches into result batches. Build once per worker (in ``open()``), call per batch."""

    def __init__(  # noqa: PLR0917 - positional like Router's (contracts, schemas, clock), plus the plan's
        self,
        contracts: Contracts,
        schemas: SchemaSource,
        plan: PlanIndexes,
        salt: bytes,
        job_name: str,
        clock: Callable[[], int] = now_ms,
        observer: RouteObserver | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._router = Router(contracts, schemas, clock)
        self._schemas = schemas
        self._topics = plan.topics
        self._routes = _contract_routes(contracts, plan)
        if any(r.models for r in self._routes.values()) and len(salt) < MIN_SALT_BYTES:
            raise ValueError(f"the PII salt must be at least {MIN_SALT_BYTES} random bytes, kept secret per deployment")
        self._hmac = _HmacSha256(salt)
        self._job = job_name
        self._clock = clock
        self._observer = observer
        self._timer = timer
        self._quarantine_row = RowEncoder(QUARANTINE_COLUMNS)

    def route(self, batch: bytes) -> bytes:
        """The result batch of an input batch: one entry per record, in input order."""
        out = ResultWriter()
        topics, route_one, timer = self._topics, self._router.route, self._timer
        stats = None if self._observer is None else BatchStats([], [])
        last = timer()  # a record's route time runs from the end of the one before it
        for topic_index, partition, offset, timestamp, key, value in read_input(batch):
            if topic_index >= len(topics):
                raise ValueError(f"topic index {topic_index} is not in the plan's {len(topics)} topics")
            topic = topics[topic_index]
            raw = RawRecord(topic, partition, offset, 0 if timestamp == NO_TIMESTAMP else timestamp, key, value)
            result = route_one(raw)
            if isinstance(result, Valid):
                result = self._valid(out, result, raw, topic_index, timestamp)
            if isinstance(result, Quarantined):
                row = self._quarantine_row.encode(quarantine_values(result, self._job, self._clock()))
                out.quarantined(row, quarantine_headers(result, self._job))
            if stats is not None:
                now = timer()
                if isinstance(result, Valid):
                    envelope = result.envelope
                    freshness = (envelope.ingest_time_ms - envelope.event_time_ms) / 1000
                    stats.valid.append((result.contract, envelope.schema_version, now - last, freshness))
                else:
                    stats.quarantined.append((topic, result, now - last))
                last = now
        if stats is not None and self._observer is not None:
            self._observer.batch_routed(stats)
        return out.finish()

    def _valid(
        self, out: ResultWriter, valid: Valid, raw: RawRecord, topic_index: int, timestamp: int
    ) -> Valid | Quarantined:
        """Write a valid record's entry, or return its quarantine verdict (a bad index in its writer body)."""
        route = self._routes[valid.contract]
        envelope = valid.envelope
        body = None
        if envelope.schema_version != route.latest_version:
            encoded = self._reader_body(route, valid, raw)
            if isinstance(encoded, Quarantined):
                return encoded
            body = encoded
        events = self._model_events(route, valid.payload, envelope) if route.models else ()
        out.valid(
            route.index,
            topic_index,
            envelope.partition,
            envelope.offset,
            timestamp,
            envelope.schema_id,
            NO_VERSION if envelope.schema_version is None else envelope.schema_version,
            envelope.ingest_time_ms,
            envelope.event_time_ms,
            envelope.event_id.encode("utf-8"),
            raw.key,
            raw.value,
            body,
            events,
        )
        return valid

    def _reader_body(self, route: _ContractRoute, valid: Valid, raw: RawRecord) -> bytes | Quarantined:
        """The payload written with the reader schema, once the writer body's enum and union indexes are
        known to be in range (decoding maps a negative one to another symbol or branch)."""
        schema_id = valid.envelope.schema_id
        assert raw.value is not None  # a valid record has a framed value
        try:
            check_indexes(
                raw.value[5:], self._schemas.writer_schema(schema_id), max_length=route.contract.max_record_bytes
            )
        except BadRecord as bad:
            cause = bad.__cause__
            error_class = type(cause).__name__ if cause is not None else "BadRecord"
            return Quarantined(
                raw, bad.reason, bad.message, bad.field, error_class, schema_id, valid.contract, bad.rule
            )
        except Exception as exc:  # as Router.route: an unforeseen failure on bad data must not stop the job
            return _unexpected(raw, exc, "checking the writer body's enum and union indexes", schema_id, valid)
        out = io.BytesIO()
        try:
            fastavro.schemaless_writer(out, route.reader, valid.payload)  # type: ignore[arg-type]
        except Exception as exc:  # a decoded payload always fits its reader schema; never stop the job on it
            return _unexpected(raw, exc, "writing the record with the reader schema", schema_id, valid)
        return out.getvalue()

    def _model_events(self, route: _ContractRoute, payload: Mapping[str, object], envelope: Envelope) -> list[bytes]:
        """:func:`udfs.readmodels.prepare` for every model of the record's contract, as model events."""
        texts = self._treat(route.treated, payload) if route.treated else _NO_TEXTS
        return [event for make in route.events if (event := make(payload, envelope, texts)) is not None]

    def _treat(self, fields: Sequence[tuple[str, str]], payload: Mapping[str, object]) -> dict[str, str | None]:
        """:func:`udfs.pii.treat` of ``fields``' values (hash: HMAC-SHA-256 hex of the UTF-8 or raw bytes;
        mask: the first character and ``***``; null stays null)."""
        texts: dict[str, str | None] = {}
        for field, treatment in fields:
            value = payload.get(field)
            if value is None:
                texts[field] = None
            elif treatment == "hash":
                texts[field] = self._hmac.hexdigest(value if isinstance(value, bytes) else str(value).encode("utf-8"))
            else:
                plain = str(value)
                texts[field] = plain[:1] + MASK if plain else plain
        return texts


def _unexpected(raw: RawRecord, exc: Exception, doing: str, schema_id: int, valid: Valid) -> Quarantined:
    name = type(exc).__name__
    return Quarantined(
        raw, Reason.schema_mismatch, f"unexpected {name} while {doing}", None, name, schema_id, valid.contract
    )


def _order(field: str, payload: Mapping[str, object]) -> int:
    value = payload.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"order_by field {field!r} holds {type(value).__name__}, not an int (contract bug?)")
    return value


def _key_text(key: list[object]) -> str:
    """:func:`udfs.readmodels.key_text`, the same text: strings and ints (what model keys hold) are written
    here as the JSON encoder writes them (``encode_basestring``, ``int.__repr__``); anything else by it."""
    if len(key) == 1 and type(key[0]) is str:  # the most common key: one string field
        return "[" + encode_basestring(key[0]) + "]"
    parts = []
    for value in key:
        if type(value) is str:
            parts.append(encode_basestring(value))
        elif type(value) is int:
            parts.append(int.__repr__(value))
        else:
            return _KEY_JSON(key)
    return "[" + ",".join(parts) + "]"


class _HmacSha256:
    """HMAC-SHA-256 (RFC 2104) with the key's inner and outer pads hashed once: the same digests as
    ``hmac.new(key, data, hashlib.sha256)``, with two hash copies per value instead of a new HMAC."""

    _BLOCK = 64  # SHA-256's block size

    def __init__(self, key: bytes) -> None:
        if len(key) > self._BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(self._BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hexdigest(self, data: bytes) -> str:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()
