"""CQRS read models declared in a contract's ``[[read_models]]``: the pure layer (no pyflink).

The package re-exports the public names of its three modules. :mod:`~udfs.readmodels.declarations` parses
the declarations into :class:`CurrentModel` (latest row per key) and :class:`AggregateModel` (measures per
group, optionally per event-time window). :mod:`~udfs.readmodels.events` is the stateless step:
:func:`prepare` turns a valid record into one model's :class:`ModelEvent`, :func:`key_text` is the model
key's text. :mod:`~udfs.readmodels.folds` is the stateful step (:func:`apply_current`,
:func:`apply_aggregate`) and :func:`fold`, both steps over a whole history (the rebuild, the tests' oracle).

Invariant: the same records in the same order give the same changes in the stream and in a rebuild. The
rules (ordering, tombstones, late data) are in schemas/README.md#read-models; the job in docs/readmodels.md.
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
