"""Kafka administration from the settings: the admin client, and creating the topics lakegate writes to.

Works against any cluster the settings point at (the local stack's broker or a production one); every
client is configured by lakegate/kafka_clients.py. Kept apart from that module so that the code a Flink
worker imports (which needs the client configuration) never loads kafka-python.
"""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from lakegate import kafka_clients
from lakegate.errors import StackError
from lakegate.settings import Settings


def admin_client(settings: Settings, *, timeout_ms: int = 15_000) -> KafkaAdminClient:
    """An admin client, or a StackError that says where Kafka was expected and how to start it."""
    try:
        return KafkaAdminClient(
            **kafka_clients.python_config(settings),
            client_id="lakegate-admin",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    except KafkaError as exc:
        raise StackError(
            f"Kafka is not reachable at {settings.kafka.bootstrap} ({type(exc).__name__}). Start the local "
            "broker with `lakegate stack up`, or set LAKEGATE_KAFKA_BOOTSTRAP to your cluster."
        ) from exc


def ensure_topics(
    settings: Settings, names: list[str], *, partitions: int | None = None, configs: dict[str, str] | None = None
) -> list[str]:
    """Create missing topics (with these topic ``configs``); return the names created."""
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        created: list[str] = []
        for name in missing:
            try:
                admin.create_topics(
                    [NewTopic(name, partitions or settings.kafka.topic_partitions, 1, topic_configs=configs or {})]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
