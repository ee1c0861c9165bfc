"""The hot path's route operator: one PyFlink map call per batch (docs/hotpath.md).

:class:`RouteBatches` is a stateless ``MapFunction`` from an input batch (``bytes``, packed on the JVM) to a
result batch (``bytes``, unpacked on the JVM), wired with ``output_type=`` :data:`BATCH`. It is pickled with
the secret-free settings and the plan dict; ``open()`` puts the worker's secrets back, loads the contracts,
builds the registry client and the :class:`udfs.hotpath.BatchRouter`. Its metrics
(:class:`jobs.metrics.RouteMetrics`) go to Flink's counters after every batch.

Invariant: a registry outage raises out of ``map`` (the task fails and Flink restarts from the checkpoint);
it never becomes quarantine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyflink.common import Types
from pyflink.datastream import MapFunction

from jobs.metrics import RouteMetrics
from jobs.worker import worker_schemas_dir
from lakegate.settings import Settings
from udfs.contract import load_contracts
from udfs.hotpath import BatchRouter, PlanIndexes
from udfs.registry import SchemaSource

# The type of both the input and the result batches on the JVM: byte[].
BATCH = Types.PRIMITIVE_ARRAY(Types.BYTE())


class RouteBatches(MapFunction):  # type: ignore[misc]  # pyflink is untyped
    """Input batch → result batch. Build on the client with the settings and the plan; Flink pickles it."""

    def __init__(self, settings: Settings, plan: Mapping[str, Any]) -> None:
        self._settings = settings.without_secrets()  # the job graph is stored and shipped: no secrets in it
        self._plan = dict(plan)
        self._router: BatchRouter | None = None
        self._metrics: RouteMetrics | None = None

    def open(self, runtime_context: Any) -> None:
        settings = self._settings.with_worker_secrets()
        contracts = load_contracts(worker_schemas_dir(settings))
        self._metrics = RouteMetrics(runtime_context.get_metrics_group())
        self._router = BatchRouter(
            contracts,
            self._schema_source(settings),
            PlanIndexes.from_plan(self._plan),
            settings.job.pii_salt.reveal().encode(),
            self._plan["job_name"],
            observer=self._metrics,
        )

    def _schema_source(self, settings: Settings) -> SchemaSource:
        """Where writer schemas come from: the registry of the settings (tests put an in-memory one here)."""
        return settings.registry_client()

    def map(self, value: Any) -> bytes:
        assert self._router is not None and self._metrics is not None, "open() was not called"
        # Thread mode hands over bytes; anything else byte-like (process mode) is copied once.
        result = self._router.route(value if isinstance(value, bytes) else bytes(value))
        # After every batch: a map function has no timer to flush later, and a batch's dozen counter calls
        # cost little next to its hundreds of records.
        if self._metrics.pending:
            self._metrics.flush()
        return result

    def close(self) -> None:
        if self._metrics is not None and self._metrics.pending:
            self._metrics.flush()
