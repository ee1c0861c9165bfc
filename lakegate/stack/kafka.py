"""Single-node Apache Kafka 4.x broker in KRaft mode (broker + controller in one JVM), on loopback."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from lakegate import jvm
from lakegate.errors import StackError
from lakegate.settings import Settings
from lakegate.stack.process import Service

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


def service(settings: Settings) -> Service:
    return Service("kafka", settings.home / "run")


def _server_properties(settings: Settings, data_dir: Path) -> str:
    port, controller = settings.kafka_port, settings.kafka_controller_port
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data_dir}",
        f"num.partitions={settings.topic_partitions}",
        # Single node: internal topics cannot have more replicas than brokers.
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "",
    ])


def start(settings: Settings) -> None:
    java = jvm.java_executable(settings)
    classpath = os.pathsep.join(str(j) for j in jvm.jars(settings, "kafka"))
    base = settings.home / "kafka"
    data_dir = base / "data"
    config = base / "server.properties"
    base.mkdir(parents=True, exist_ok=True)
    config.write_text(_server_properties(settings, data_dir))
    log4j = base / "log4j2.properties"
    log4j.write_text(
        "rootLogger.level=WARN\nrootLogger.appenderRef.stdout.ref=STDOUT\n"
        "appender.stdout.type=Console\nappender.stdout.name=STDOUT\n"
        "appender.stdout.layout.type=PatternLayout\nappender.stdout.layout.pattern=%d %p %c: %m%n\n"
        "logger.kafka.name=kafka.server.KafkaRaftServer\nlogger.kafka.level=INFO\n"
    )
    jvm_opts = [f"-Xmx{settings.kafka_heap_mb}m", f"-Xms{min(256, settings.kafka_heap_mb)}m",
                "-XX:+UseSerialGC", f"-Dlog4j2.configurationFile={log4j}"]
    svc = service(settings)
    if svc.pid() is None and not (data_dir / "meta.properties").is_file():
        import subprocess

        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            [java, *jvm_opts, "-cp", classpath, STORAGE_TOOL, "format", "-t", cluster_id, "-c", str(config)],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")
    svc.start([java, *jvm_opts, "-cp", classpath, MAIN_CLASS, str(config)], lambda: ready(settings))


def admin_client(settings: Settings, *, timeout_ms: int = 15_000) -> KafkaAdminClient:
    """An admin client, or a StackError that says where Kafka was expected and how to start it."""
    try:
        return KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="lakegate-admin",
                                request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms)
    except KafkaError as exc:
        raise StackError(
            f"Kafka is not reachable at {settings.kafka_bootstrap} ({type(exc).__name__}). Start the local "
            "broker with `lakegate stack up`, or set LAKEGATE_KAFKA_BOOTSTRAP to your cluster."
        ) from exc


def ready(settings: Settings) -> bool:
    admin = admin_client(settings, timeout_ms=3000)
    try:
        brokers = admin.describe_cluster()["brokers"]
        return bool(brokers) and not any(b.get("is_fenced") for b in brokers)
    finally:
        admin.close()


def stop(settings: Settings) -> None:
    service(settings).stop()


def ensure_topics(settings: Settings, names: list[str], *, partitions: int | None = None,
                  configs: dict[str, str] | None = None) -> list[str]:
    """Create missing topics (with these topic ``configs``); return the names created."""
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        created: list[str] = []
        for name in missing:
            try:
                admin.create_topics([NewTopic(name, partitions or settings.topic_partitions, 1,
                                              topic_configs=configs or {})])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
