"""The ingest job at parallelism 2, bounded: every record once, dedupe and read models right across subtasks.

Two source subtasks share the topics' three partitions, two route instances each see part of the stream,
and dedupe and the read models receive their keys through the JVM's shuffles. The Iceberg writers of both
subtasks finish at different times, the window in which Iceberg's V1 sink could leave a data file
uncommitted (bench/README.md); the job writes through Sink V2.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from test_readmodels import comparable, expected_aggregate, expected_current, table_state

from lakegate import readmodels
from lakegate.produce import DUPLICATE, produce
from lakegate.settings import Settings
from lakegate.testing.invariant import assert_every_record_once
from lakegate.testing.lake import own_lake
from lakegate.testing.plugin import JobRun
from lakegate.testing.readers import read_audit, read_quarantine
from udfs.readmodels import CurrentModel

pytestmark = pytest.mark.job


def test_parallelism_2_lands_every_record_once_and_keeps_dedupe_and_read_models(
    lakegate_stack: Settings, tmp_path: Path, run_job: Callable[..., JobRun]
) -> None:
    settings, contracts = own_lake(
        lakegate_stack,
        tmp_path,
        "p2",
        parallelism=2,
    )
    report = produce(settings, contracts, 3000, bad_fraction=0.1, duplicate_fraction=0.05, seed=4242)
    run_job("ingest", settings)

    assert_every_record_once(settings, contracts)
    for contract in contracts:
        ids = Counter(read_audit(settings, contract)[contract.event_id_field].to_pylist())
        assert max(ids.values()) == 1, f"{contract.name}: an event id audited twice"
    quarantined = read_quarantine(settings)
    reasons = dict(
        zip(
            zip(
                quarantined["source_topic"].to_pylist(),
                quarantined["source_partition"].to_pylist(),
                quarantined["source_offset"].to_pylist(),
                strict=True,
            ),
            quarantined["reason"].to_pylist(),
            strict=True,
        )
    )
    retries = [(r.topic, r.partition, r.offset) for r in report.records if r.expected == DUPLICATE]
    assert len(retries) > 50
    assert all(reasons[c] == "duplicate_event_id" for c in retries)

    salt = settings.job.pii_salt.reveal().encode()
    for model, contract in readmodels.all_models(contracts):
        events = read_audit(settings, contract).to_pylist()
        if isinstance(model, CurrentModel):
            expected = expected_current(model, contract, events, salt)
            names = [*model.key, *model.fields]
        elif model.window is None:
            expected = expected_aggregate(model, contract, events, salt)
            names = [*model.group_by, *(m.name for m in model.measures)]
        else:
            continue  # which windowed events are late depends on each subtask's arrival order
        table = {key: comparable(row) for key, row in table_state(settings, model, names).items()}
        assert table == {key: comparable(row) for key, row in expected.items()}, model.name
