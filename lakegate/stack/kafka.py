"""Single-node Apache Kafka 4.x broker in KRaft mode (broker + controller in one JVM), on loopback.

Only the local broker's concerns: its configuration, storage, process and readiness. Topics and the admin
client, for any cluster, are lakegate/kafka_admin.py.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import uuid
from pathlib import Path

from lakegate import jvm
from lakegate.errors import StackError
from lakegate.kafka_admin import admin_client
from lakegate.settings import Settings
from lakegate.stack.process import Service

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


def new_cluster_id() -> str:
    """A KRaft cluster id as Kafka makes them (16 random bytes, URL-safe base64), never starting with "-":
    Kafka's own generator avoids that too, since a leading dash reads as an option on a command line."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def service(settings: Settings) -> Service:
    return Service("kafka", settings.paths.home / "run")


def _server_properties(settings: Settings, data_dir: Path, keystore: Path | None = None) -> str:
    port, controller = settings.kafka.port, settings.kafka.controller_port
    protocol = settings.kafka.security_protocol
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller}",
            f"listeners=CLIENTS://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=CLIENTS://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            f"listener.security.protocol.map=CLIENTS:{protocol},CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=CLIENTS",
            *_listener_security(settings, keystore),
            f"log.dirs={data_dir}",
            f"num.partitions={settings.kafka.topic_partitions}",
            # Single node: internal topics cannot have more replicas than brokers.
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "",
        ]
    )


def _listener_security(settings: Settings, keystore: Path | None) -> list[str]:
    """The client listener's TLS and SASL (PLAIN, one user: the configured client's) for a local broker that
    mirrors a secured production cluster. The broker talks to itself through the same listener."""
    protocol, lines = settings.kafka.security_protocol, []
    if protocol.endswith("SSL"):
        if keystore is None or settings.kafka.ssl_cafile is None:
            raise StackError(
                f"a local {protocol} broker needs a server keystore (PEM: key and certificate) "
                "and kafka_ssl_cafile; lakegate.testing.tls makes both"
            )
        lines += [
            "listener.name.clients.ssl.keystore.type=PEM",
            f"listener.name.clients.ssl.keystore.location={keystore}",
            "listener.name.clients.ssl.truststore.type=PEM",
            f"listener.name.clients.ssl.truststore.location={settings.kafka.ssl_cafile}",
        ]
    if protocol.startswith("SASL_"):
        if settings.kafka.sasl_mechanism != "PLAIN":
            raise StackError(
                "the local broker offers SASL PLAIN only (SCRAM users need a running cluster to "
                f"create them); got kafka_sasl_mechanism={settings.kafka.sasl_mechanism}"
            )
        user, secret = settings.kafka.sasl_username, settings.kafka.sasl_password.reveal()
        if any(c in secret for c in '"\\\n'):  # the JAAS line sits in a .properties file: no escapes needed
            raise StackError("the local broker cannot take a SASL password containing '\"', '\\' or a newline")
        lines += [
            "sasl.enabled.mechanisms=PLAIN",
            "sasl.mechanism.inter.broker.protocol=PLAIN",
            "listener.name.clients.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule"
            f' required username="{user}" password="{secret}" user_{user}="{secret}";',
        ]
    return lines


def start(settings: Settings, *, keystore: Path | None = None) -> None:
    """Start the broker (formatting its storage the first time). ``keystore``: the server's PEM key and
    certificate, for a broker whose client listener uses TLS (``kafka_security_protocol`` SSL or SASL_SSL)."""
    java = jvm.java_executable(settings)
    classpath = os.pathsep.join(str(j) for j in jvm.jars(settings, "kafka"))
    base = settings.paths.home / "kafka"
    data_dir = base / "data"
    config = base / "server.properties"
    base.mkdir(parents=True, exist_ok=True)
    config.touch()
    config.chmod(0o600)  # it holds the SASL user's password when there is one (an older file may be 0644)
    config.write_text(_server_properties(settings, data_dir, keystore))
    log4j = base / "log4j2.properties"
    log4j.write_text(
        "rootLogger.level=WARN\nrootLogger.appenderRef.stdout.ref=STDOUT\n"
        "appender.stdout.type=Console\nappender.stdout.name=STDOUT\n"
        "appender.stdout.layout.type=PatternLayout\nappender.stdout.layout.pattern=%d %p %c: %m%n\n"
        "logger.kafka.name=kafka.server.KafkaRaftServer\nlogger.kafka.level=INFO\n"
    )
    jvm_opts = [
        f"-Xmx{settings.kafka.heap_mb}m",
        f"-Xms{min(256, settings.kafka.heap_mb)}m",
        "-XX:+UseSerialGC",
        f"-Dlog4j2.configurationFile={log4j}",
    ]
    svc = service(settings)
    if svc.pid() is None and not (data_dir / "meta.properties").is_file():
        cluster_id = new_cluster_id()
        result = subprocess.run(
            # `--cluster-id=` keeps the id one argument whatever it starts with.
            [
                java,
                *jvm_opts,
                "-cp",
                classpath,
                STORAGE_TOOL,
                "format",
                f"--cluster-id={cluster_id}",
                "-c",
                str(config),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")
    svc.start([java, *jvm_opts, "-cp", classpath, MAIN_CLASS, str(config)], lambda: ready(settings))


def ready(settings: Settings) -> bool:
    # A plain TCP probe first: a kafka-python client whose bootstrap fails leaves its sockets open (they warn
    # when collected), and a broker still starting refuses connections for a while.
    if not _accepts_connections(settings.kafka.bootstrap.split(",")[0]):
        return False
    admin = admin_client(settings, timeout_ms=3000)
    try:
        brokers = admin.describe_cluster()["brokers"]
        return bool(brokers) and not any(b.get("is_fenced") for b in brokers)
    finally:
        admin.close()


def _accepts_connections(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def stop(settings: Settings) -> None:
    service(settings).stop()
