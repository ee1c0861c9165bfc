"""What bench/compare.py tells a pipeline process beyond lakegate's settings, as a JSON file.

Settings travel in ``LAKEGATE_*`` variables as for every lakegate job; this carries the benchmark's own
choices. Standard library only: the plain consumer imports it from its own virtualenv.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Task:
    namespace: str  # Iceberg namespace of the pipeline's tables, one table per contract
    group: str  # Kafka consumer group id
    # Bounded run: stop at these offsets, {topic: {partition: end}}; None: run until killed.
    end_offsets: dict[str, dict[int, int]] | None
    parallelism: int = 1
    batch_records: int = 20_000  # plain consumer: records per append
    flush_ms: int = 5_000  # plain consumer: longest wait before an append, like a checkpoint interval
    worker: int | None = None  # plain consumer: which worker this process is (None: the launcher)

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def load(cls, path: Path) -> Task:
        raw = json.loads(path.read_text())
        ends = raw["end_offsets"]
        if ends is not None:  # JSON object keys are strings
            raw["end_offsets"] = {t: {int(p): int(o) for p, o in parts.items()} for t, parts in ends.items()}
        return cls(**raw)

    def as_worker(self, worker: int) -> Task:
        return replace(self, worker=worker)
