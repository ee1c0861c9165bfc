"""What a Flink worker's Python needs to find on its own: where it reads the contracts.

Light on purpose: the route operator imports it inside every TaskManager (thread mode: in the task's JVM,
when the task starts), so it pulls in neither the catalog (pyiceberg, SQLAlchemy) nor the PyFlink gateway.
"""

from __future__ import annotations

from pathlib import Path

import udfs
from lakegate.settings import Settings

SHIPPED_SCHEMAS = "schemas"  # beside the packages in the shipped folder: where workers read the contracts


def worker_schemas_dir(settings: Settings) -> Path:
    """Where a Flink worker reads the contracts: the copy shipped with the code, or the configured folder."""
    if settings.cluster.ship_python_code and settings.cluster.execution_target == "remote":
        return Path(udfs.__file__).resolve().parents[1] / SHIPPED_SCHEMAS
    return settings.paths.schemas_dir
