"""Security: a job on the local cluster against a SASL_SSL broker and an https registry with Basic auth.

Every client the job creates must authenticate (the broker refuses anything else), and a canary secret
(the Kafka password, the registry password and the PII salt) must never show up in a log, a file the
stack writes, a process command line, Flink's REST API, or a quarantine header.
"""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from lakegate import cluster, kafka_admin, kafka_clients, readmodels
from lakegate.errors import StackError
from lakegate.produce import produce
from lakegate.settings import Settings
from lakegate.stack import kafka, registry
from lakegate.testing.invariant import assert_every_record_once, wait_until_drained
from lakegate.testing.ports import free_port, free_port_range
from lakegate.testing.readers import read_dead_letters, read_quarantine
from lakegate.testing.tls import TLSFiles, make_tls_files
from lakegate.testing.tls_proxy import BasicAuthTLSProxy
from udfs.contract import Contracts
from udfs.errors import RegistryUnavailable

pytestmark = pytest.mark.job

USER = "lakegate-job"


@dataclass(frozen=True)
class Secured:
    settings: Settings  # what the job uses: SASL_SSL, https registry with credentials
    plain: Settings  # the same stack without credentials (must be refused)
    canary: str
    tls: TLSFiles
    proxy: BasicAuthTLSProxy


@pytest.fixture(scope="module")
def secured(lakegate_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    home = tmp_path_factory.mktemp("secured")
    tls = make_tls_files(home / "tls")
    canary = "canary" + secrets.token_hex(12)
    upstream, front = free_port(), free_port()
    plain = lakegate_settings.replace(
        home=home,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        registry_url=f"http://127.0.0.1:{upstream}/apis/ccompat/v7",
        cluster_rest_url=f"http://127.0.0.1:{free_port()}",
        cluster_rpc_port=free_port(),
        metrics_port=free_port_range(4),
        cluster_taskmanager_memory="1536m",
        drain=False,
        restart_attempts=3,
    )
    settings = plain.replace(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username=USER,
        kafka_sasl_password=canary,
        kafka_ssl_cafile=tls.ca,
        registry_url=f"https://{USER}:{canary}@127.0.0.1:{front}/apis/ccompat/v7",
        registry_ca_file=tls.ca,
        pii_salt=f"{canary}-pii-salt",
    )
    try:
        kafka.start(settings, keystore=tls.keystore)
        registry.start(plain)  # Apicurio on plain HTTP, reachable for the job only through the proxy
        with BasicAuthTLSProxy(f"http://127.0.0.1:{upstream}", front, tls, USER, canary) as proxy:
            try:
                cluster.up(settings)
                yield Secured(settings, plain, canary, tls, proxy)
            finally:
                cluster.down(settings)
    finally:
        registry.stop(plain)
        kafka.stop(settings)


def test_clients_without_credentials_are_refused(secured: Secured) -> None:
    with pytest.raises(StackError):  # no TLS, no SASL
        kafka_admin.admin_client(secured.plain, timeout_ms=5000).list_topics()
    with pytest.raises(StackError):  # TLS and SASL, the wrong password
        kafka_admin.admin_client(secured.settings.replace(kafka_sasl_password="not-the-password"), timeout_ms=5000)
    anonymous = secured.settings.registry.url.reveal().replace(f"{USER}:{secured.canary}@", "")
    refused = secured.proxy.refused
    with pytest.raises(RegistryUnavailable, match="HTTP 401"):
        secured.settings.replace(registry_url=anonymous, registry_retries=0).registry_client().subjects()
    assert secured.proxy.refused == refused + 1


def test_a_job_on_a_secured_stack_keeps_every_record_and_never_shows_the_secret(
    secured: Secured, lakegate_contracts: Contracts
) -> None:
    settings, contracts, canary = secured.settings, lakegate_contracts, secured.canary
    kafka_admin.ensure_topics(settings, [c.topic for c in contracts] + [settings.kafka.dlq_topic])
    produce(settings, contracts, 600, bad_fraction=0.1, duplicate_fraction=0.05, seed=71)
    refused_before = secured.proxy.refused
    job = cluster.submit(settings)
    wait_until_drained(settings, contracts)

    # Every client authenticated: the source read everything, both kinds of producer committed.
    assert_every_record_once(settings, contracts)
    dead = read_dead_letters(settings)
    assert len(dead) == read_quarantine(settings).num_rows > 0
    assert _changelog_records(settings, contracts) > 0
    assert secured.proxy.refused == refused_before, "a registry client of the job went without credentials"

    # The canary, nowhere it must not be.
    assert not [d.source for d in dead if any(canary in v for v in d.headers.values())]
    assert canary not in str(read_quarantine(settings).to_pylist())
    assert not _rest_answers_with(settings, job.job_id, canary)
    assert not _command_lines_with(canary)
    # The scan below covers the Kafka clients' own configuration dumps (with the JAAS line masked by Kafka).
    client_logs = "".join(
        p.read_text(errors="replace") for p in (settings.paths.home / "cluster" / "log").glob("*.log")
    )
    assert "security.protocol = SASL_SSL" in client_logs and "sasl.jaas.config = [hidden]" in client_logs
    leaks = _files_with(settings.paths.home, canary, allowed={settings.paths.home / "kafka" / "server.properties"})
    assert not leaks, f"the canary secret is in {leaks}"
    assert (settings.paths.home / "kafka" / "server.properties").stat().st_mode & 0o077 == 0
    cluster.rest(settings, "PATCH", f"/jobs/{job.job_id}?mode=cancel")


def _changelog_records(settings: Settings, contracts: Contracts) -> int:
    topics = [readmodels.changelog_topic(settings, m) for c in contracts for m in c.read_models]
    consumer = KafkaConsumer(**kafka_clients.python_config(settings), isolation_level="read_committed")
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def _rest_answers_with(settings: Settings, job_id: str, secret: str) -> list[str]:
    paths = [
        "/config",
        "/jobmanager/config",
        "/jobmanager/environment",
        "/overview",
        "/taskmanagers",
        f"/jobs/{job_id}",
        f"/jobs/{job_id}/config",
        f"/jobs/{job_id}/jobmanager/config",
        f"/jobs/{job_id}/jobmanager/environment",
        f"/jobs/{job_id}/plan",
        f"/jobs/{job_id}/exceptions",
    ]
    taskmanagers = cluster.rest(settings, "GET", "/taskmanagers")["taskmanagers"]
    paths += [f"/taskmanagers/{urllib.parse.quote(tm['id'], safe='')}" for tm in taskmanagers]
    answers = {path: str(cluster.rest(settings, "GET", path)) for path in paths}
    assert all(len(a) > 2 for a in answers.values()), "an empty REST answer proves nothing"
    return [path for path, answer in answers.items() if secret in answer]


def _command_lines_with(secret: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if secret.encode() in cmdline.read_bytes():
                found.append(cmdline.read_bytes().replace(b"\0", b" ")[:200].decode(errors="replace"))
        except OSError:
            continue  # the process ended meanwhile
    return found


def _files_with(root: Path, secret: str, allowed: set[Path]) -> list[Path]:
    """Every file under ``root`` (logs, checkpoints, job graphs, Iceberg data, the broker's data) holding it."""
    needle = secret.encode()
    return [p for p in root.rglob("*") if p.is_file() and p not in allowed and needle in p.read_bytes()]
