"""The local broker's KRaft cluster id: a flaky CI run formatted storage with an id starting with "-", which
the storage tool's argument parser took for an option ("expected one argument")."""

from __future__ import annotations

import base64

from lakegate.stack.kafka import new_cluster_id


def test_cluster_ids_are_kafka_shaped_and_never_start_with_a_dash() -> None:
    ids = [new_cluster_id() for _ in range(5000)]  # ~1 in 64 raw ids start with "-": 5,000 draws meet many
    assert not any(i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)
    for cluster_id in ids[:100]:
        assert len(cluster_id) == 22
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
