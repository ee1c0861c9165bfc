"""CQRS read models declared in a contract's ``[[read_models]]``: the pure layer (no pyflink).

A read model is a table lakegate keeps current from a contract's valid records. Two kinds:

* **current** (:class:`CurrentModel`): the latest state per key. Each event whose ``event_type_field`` is
  in ``upsert_on`` replaces the key's row with its projection (key fields, then ``fields``); one in
  ``delete_on`` removes the key; any other event type is ignored by the model.
* **aggregate** (:class:`AggregateModel`): measures (count, sum, min, max, latest) per ``group_by`` value,
  optionally per event-time tumbling window. Every valid record of the contract counts once.

The package holds three concerns, one module each, and re-exports their public names. The record path is
split in two steps (events, then folds) so the same code runs in the stream and in a rebuild:

* :mod:`~udfs.readmodels.declarations`: the ``[[read_models]]`` tables parsed and validated into
  :class:`CurrentModel` and :class:`AggregateModel`, and the model tables' columns (:func:`model_columns`).
* :mod:`~udfs.readmodels.events`, the stateless step (in the routing operator): :func:`prepare` turns a valid
  record into a :class:`ModelEvent` (model key, op, PII-treated row, order tuple) or ``None``;
  :func:`event_to_json` carries it across a Flink operator boundary as one string and :func:`key_text` is its
  Flink/Kafka key.
* :mod:`~udfs.readmodels.folds`, the stateful step (keyed by the model key): :func:`apply_current` /
  :func:`apply_aggregate` turn the key's state and the event into the new state and at most one
  :class:`Change`, the model table's next row (:func:`change_values`) and the changelog topic's value
  (:func:`change_json`). :func:`fold` runs both steps over a whole history (the rebuild, and the tests'
  oracle); :func:`current_rows` reads a model back from its change log.

**Ordering rule.** A change wins over the key's current one iff its order tuple is greater:
``(order value, Kafka partition, Kafka offset)``, where the order value is the model's ``order_by`` field
(epoch millis for timestamps). Partition then offset only break ties, so the outcome never depends on the
order in which partitions are read. ``order_by = "offset"`` uses ``(offset, partition, offset)`` and is
allowed only when the model key is exactly the contract's ``key_field``: the Kafka key must equal that field,
so all events of a key sit in one partition, where offset order is produce order. Any other key spans
partitions, whose offsets say nothing about each other, so it needs an order field.

**Why the state of a deleted key is kept (tombstones).** Events reach the stateful step out of order
(several partitions, late producers). If a delete simply dropped the key's state, an *older* upsert
arriving afterwards would find no state and resurrect the row. So a delete leaves a tombstone with the
delete's order (and the version reached). A delete of a key the state has never seen leaves one too and is
still emitted: the state may be younger than the key (a job started without its checkpoint), and a redundant
delete is a no-op in the table's view and on the compacted topic. Versions continue across tombstones, so per
key the highest version in the change log is always the current row (:func:`current_rows`).
Tombstones live as long as the job's state.

**Late data (windowed aggregates).** A window ``[start, start + size)`` accepts events until the watermark
passes ``start + size + allowed_lateness``; after that an event for it is dropped (no change). The caller
keeps the watermark as the maximum event time it has seen; :func:`fold` does the same, so a windowed
aggregate's result depends on arrival order only through what was late.

**JSON.** Payload values in rows, keys and states are ``str``, ``int``, ``float``, ``bool``, ``None`` or
``bytes``; timestamps are int epoch millis and enums their symbol. In :func:`event_to_json` and
:func:`state_to_json` bytes travel as ``{"$bytes": "<base64>"}`` (rows never hold objects otherwise) so
they round-trip exactly; in the changelog (:func:`change_json`) they are plain base64 strings. Non-finite
floats are written as Python's ``json`` writes them (``NaN``, ``Infinity``).
"""

from udfs.readmodels.declarations import (
    FUNCTIONS,
    KINDS,
    MODEL_COLUMNS,
    NAME_PATTERN,
    OFFSET,
    WINDOW_START,
    AggregateModel,
    CurrentModel,
    Measure,
    ReadModel,
    Window,
    keyed_like_the_topic,
    model_columns,
    parse_read_models,
)
from udfs.readmodels.events import (
    DELETE,
    UPSERT,
    Key,
    ModelEvent,
    Order,
    Row,
    event_from_json,
    event_to_json,
    key_text,
    prepare,
)
from udfs.readmodels.folds import (
    AggregateState,
    Change,
    CurrentState,
    apply_aggregate,
    apply_current,
    change_json,
    change_values,
    current_rows,
    fold,
    state_from_json,
    state_to_json,
)

__all__ = [
    "DELETE",
    "FUNCTIONS",
    "KINDS",
    "MODEL_COLUMNS",
    "NAME_PATTERN",
    "OFFSET",
    "UPSERT",
    "WINDOW_START",
    "AggregateModel",
    "AggregateState",
    "Change",
    "CurrentModel",
    "CurrentState",
    "Key",
    "Measure",
    "ModelEvent",
    "Order",
    "ReadModel",
    "Row",
    "Window",
    "apply_aggregate",
    "apply_current",
    "change_json",
    "change_values",
    "current_rows",
    "event_from_json",
    "event_to_json",
    "fold",
    "key_text",
    "keyed_like_the_topic",
    "model_columns",
    "parse_read_models",
    "prepare",
    "state_from_json",
    "state_to_json",
]
