"""Settings: layering, strict keys, type conversion, validation, sections, flat keys and masking."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pickle
from pathlib import Path

import pytest

from lakegate import cli
from lakegate.errors import SettingsError
from lakegate.settings import (
    LOCAL_PII_SALT,
    ClusterSettings,
    JobSettings,
    KafkaSettings,
    ObservationSettings,
    RegistrySettings,
    Secret,
    SecretUrl,
    Settings,
)

# Every flat name of the one flat Settings class the sections replaced: the keys of the settings file, the
# LAKEGATE_* variables and the keywords of Settings.load/replace, which no refactoring may change.
FLAT_KEYS = """
    home schemas_dir pom java_home artifacts_dir kafka_bootstrap kafka_controller_port kafka_heap_mb
    topic_partitions dlq_topic consumer_group kafka_security_protocol kafka_sasl_mechanism kafka_sasl_username
    kafka_sasl_password kafka_ssl_cafile registry_url registry_heap_mb registry_timeout_s registry_retries
    registry_ca_file catalog_name catalog_db warehouse audit_namespace quarantine_namespace catalog_uri
    catalog_token catalog_credential catalog_oauth2_server_uri catalog_scope catalog_warehouse
    s3_endpoint s3_region s3_path_style_access s3_access_key_id s3_secret_access_key
    s3_warehouse s3_checkpoints readmodel_namespace changelog_topic_prefix pii_salt job_name
    parallelism checkpoint_interval_ms python_execution_mode start_from drain restart_attempts
    batch_max_records batch_max_bytes batch_max_delay_ms state_backend local_heap_mb readmodel_minibatch_ms
    metrics_port flink_rest_port execution_target restore_from
    cluster_rest_url cluster_rpc_port cluster_slots cluster_taskmanagers cluster_taskmanager_memory
    ship_python_code cluster_python exporter_port exporter_interval_s
""".split()  # noqa: SIM905


def test_defaults_point_at_the_local_stack() -> None:
    s = Settings.load(env={})
    assert s.kafka.bootstrap == "127.0.0.1:19092"
    assert s.kafka.port == 19092
    assert s.registry.port == 18081
    assert s.paths.catalog_db_path == s.paths.home / "catalog.db"
    assert s.paths.jvm_dir == s.paths.home / "jvm"


def test_layers_file_then_environment_then_overrides(tmp_path: Path) -> None:
    file = tmp_path / "lakegate.toml"
    file.write_text('job_name = "from-file"\nparallelism = 2\ndlq_topic = "dlq.file"\n')
    env = {"LAKEGATE_SETTINGS_FILE": str(file), "LAKEGATE_PARALLELISM": "3", "LAKEGATE_DRAIN": "yes"}
    s = Settings.load(env=env, dlq_topic="dlq.override")
    assert s.job.name == "from-file"
    assert s.job.parallelism == 3
    assert s.job.drain is True
    assert s.kafka.dlq_topic == "dlq.override"


def test_unknown_environment_variable_is_rejected_with_the_known_names() -> None:
    with pytest.raises(SettingsError, match="LAKEGATE_PARALELISM") as info:
        Settings.load(env={"LAKEGATE_PARALELISM": "2"})
    assert "LAKEGATE_PARALLELISM" in str(info.value)


def test_unknown_file_key_and_unknown_override_are_rejected(tmp_path: Path) -> None:
    file = tmp_path / "s.toml"
    file.write_text("kafka_bootstrp = 'x:1'\n")
    with pytest.raises(SettingsError, match="kafka_bootstrp"):
        Settings.load(file=file, env={})
    with pytest.raises(SettingsError, match="nope"):
        Settings.load(env={}, nope=1)


def test_missing_or_broken_settings_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.load(file=tmp_path / "absent.toml", env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("job_name = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        Settings.load(file=broken, env={})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LAKEGATE_PARALLELISM": "two"}, "cannot read 'two' as int"),
        ({"LAKEGATE_DRAIN": "maybe"}, "expected true or false"),
        ({"LAKEGATE_PARALLELISM": "0"}, "parallelism must be at least 1"),
        ({"LAKEGATE_PYTHON_EXECUTION_MODE": "fast"}, "python_execution_mode"),
        ({"LAKEGATE_KAFKA_BOOTSTRAP": "localhost"}, "kafka_bootstrap"),
        ({"LAKEGATE_REGISTRY_URL": "ftp://x"}, "registry_url"),
        ({"LAKEGATE_DLQ_TOPIC": "bad topic"}, "dlq_topic"),
    ],
)
def test_invalid_values_fail_with_a_message_naming_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.load(env=env)


def test_credentials_in_the_registry_url_are_masked_everywhere_printed() -> None:
    s = Settings.load(env={"LAKEGATE_REGISTRY_URL": "https://svc:s3cr3t-canary@registry.example:8443/api"})
    assert "s3cr3t-canary" not in repr(s)
    assert "s3cr3t-canary" not in str(s.masked())
    assert s.masked()["registry_url"] == "https://***@registry.example:8443/api"


def test_to_env_round_trips() -> None:
    s = Settings.load(env={}, parallelism=2, drain=True, java_home="/opt/jdk")
    again = Settings.load(env=s.to_env())
    assert again == s


def test_replace_validates() -> None:
    s = Settings.load(env={})
    assert s.replace(parallelism=2).job.parallelism == 2
    with pytest.raises(SettingsError):
        s.replace(parallelism=0)


def test_the_local_pii_salt_is_refused_when_kafka_is_not_on_loopback() -> None:
    assert Settings.load(env={}).job.pii_salt.reveal() == LOCAL_PII_SALT  # fine for the local stack
    with pytest.raises(SettingsError, match="LAKEGATE_PII_SALT"):
        Settings.load(env={"LAKEGATE_KAFKA_BOOTSTRAP": "kafka.prod:9092"})
    real = Settings.load(env={"LAKEGATE_KAFKA_BOOTSTRAP": "kafka.prod:9092", "LAKEGATE_PII_SALT": "x" * 32})
    assert real.job.pii_salt.reveal() == "x" * 32


def test_the_pii_salt_is_masked_and_left_out_of_what_flink_functions_carry() -> None:
    settings = Settings.load(env={"LAKEGATE_PII_SALT": "canary-" + "s" * 20})
    assert settings.masked()["pii_salt"] == "***" and "canary" not in repr(settings)
    assert settings.without_secrets().job.pii_salt.reveal() == ""
    assert b"canary" not in __import__("pickle").dumps(settings.without_secrets())


# ---- flat keys outside, sections inside --------------------------------------------------------------------


def test_the_flat_keys_are_the_documented_ones_each_mapped_to_one_section_field() -> None:
    assert sorted(Settings.flat_keys()) == sorted(FLAT_KEYS)
    settings = Settings.load(env={})
    assert set(settings.flat()) == set(FLAT_KEYS)
    assert set(settings.to_env()) <= {"LAKEGATE_" + key.upper() for key in FLAT_KEYS}
    # A few by name, as code reads them.
    flat = settings.flat()
    assert flat["kafka_bootstrap"] is settings.kafka.bootstrap
    assert flat["job_name"] is settings.job.name
    assert flat["cluster_rest_url"] is settings.cluster.rest_url
    assert flat["readmodel_namespace"] is settings.readmodels.namespace


def test_settings_holds_one_field_per_section_named_by_its_title() -> None:
    settings = Settings()
    assert [f.name for f in dataclasses.fields(settings)] == [section.title for section in settings.sections()]
    for section in settings.sections():
        assert type(section).__dataclass_params__.frozen and not hasattr(section, "__dict__")  # type: ignore[attr-defined]


def test_every_setting_round_trips_through_the_environment(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    changed = {
        "home": tmp_path / "home",
        "schemas_dir": tmp_path / "schemas",
        "pom": tmp_path / "pom.xml",
        "java_home": tmp_path / "jdk",
        "artifacts_dir": tmp_path / "jvm",
        "kafka_bootstrap": "kafka-1.example:9093,kafka-2.example:9093",
        "kafka_controller_port": 29093,
        "kafka_heap_mb": 1024,
        "topic_partitions": 6,
        "dlq_topic": "dlq.v2",
        "consumer_group": "group-2",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": "svc@lakegate",
        "kafka_sasl_password": "kafka-password",
        "kafka_ssl_cafile": ca,
        "registry_url": "https://svc:registry-password@registry.example:8443/api",
        "registry_heap_mb": 128,
        "registry_timeout_s": 9,
        "registry_retries": 0,
        "registry_ca_file": ca,
        "catalog_name": "lake2",
        "catalog_db": tmp_path / "cat.db",
        "warehouse": tmp_path / "wh",
        "audit_namespace": "audit2",
        "quarantine_namespace": "quarantine2",
        "catalog_uri": "https://catalog.example:8443/api/catalog",  # a REST catalog: catalog_token needs one
        "catalog_token": "catalog-token",
        "catalog_credential": "lakegate:client-secret",
        "catalog_oauth2_server_uri": "https://login.example/oauth2/token",
        "catalog_scope": "PRINCIPAL_ROLE:ALL",
        "catalog_warehouse": "lake2",
        "s3_endpoint": "https://objects.example:9443",
        "s3_region": "eu-central-1",
        "s3_path_style_access": False,
        "s3_access_key_id": "AKIAEXAMPLE",
        "s3_secret_access_key": "s3-secret",
        "s3_warehouse": "s3://lake/warehouse",
        "s3_checkpoints": "s3://flink-state/lake",
        "readmodel_namespace": "models2",
        "changelog_topic_prefix": "models2.",
        "pii_salt": "a-real-salt-of-more-than-16-bytes",
        "job_name": "job-2",
        "parallelism": 4,
        "checkpoint_interval_ms": 2000,
        "python_execution_mode": "process",
        "start_from": "group-offsets",
        "drain": True,
        "restart_attempts": 7,
        "batch_max_records": 100,
        "batch_max_bytes": 2048,
        "batch_max_delay_ms": 5,
        "state_backend": "rocksdb",
        "local_heap_mb": 700,
        "readmodel_minibatch_ms": 50,
        "metrics_port": "9300-9310",
        "flink_rest_port": "18200",
        "execution_target": "remote",
        "restore_from": "file:///savepoints/sp-1",
        "cluster_rest_url": "https://flink.example",
        "cluster_rpc_port": 28101,
        "cluster_slots": 4,
        "cluster_taskmanagers": 3,
        "cluster_taskmanager_memory": "4096m",
        "ship_python_code": True,
        "cluster_python": "/usr/bin/python3.11",
        "exporter_port": 0,
        "exporter_interval_s": 30,
    }
    assert sorted(changed) == sorted(FLAT_KEYS), "change every setting"
    s = Settings.load(env={}, **changed)
    defaults = Settings.load(env={}).flat()
    assert [key for key, value in s.flat().items() if value == defaults[key]] == []
    again = Settings.load(env=s.to_env())
    assert again == s
    assert again.kafka.sasl_password.reveal() == "kafka-password"
    assert again.registry.url.reveal() == "https://svc:registry-password@registry.example:8443/api"
    assert again.catalog.token.reveal() == "catalog-token"


def test_replace_takes_flat_keys_converts_and_refuses_unknown_ones() -> None:
    s = Settings.load(env={})
    changed = s.replace(kafka_bootstrap="127.0.0.1:29092", job_name="other", pii_salt="p" * 16, java_home="/opt/jdk")
    assert (changed.kafka.bootstrap, changed.job.name) == ("127.0.0.1:29092", "other")
    assert changed.job.pii_salt == Secret("p" * 16)
    assert changed.paths.java_home == Path("/opt/jdk")
    assert changed.registry is s.registry  # untouched sections are shared, not copied
    with pytest.raises(SettingsError, match=r"unknown setting 'job_nmae' \(did you mean 'job_name'\?\)"):
        s.replace(job_nmae="x")


def test_unknown_keys_suggest_the_closest_known_one(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"\(did you mean 'LAKEGATE_PARALLELISM'\?\)"):
        Settings.load(env={"LAKEGATE_PARALELISM": "2"})
    file = tmp_path / "s.toml"
    file.write_text("kafka_bootstrp = 'x:1'\n")
    with pytest.raises(SettingsError, match=r"did you mean 'kafka_bootstrap' for 'kafka_bootstrp'") as info:
        Settings.load(file=file, env={})
    assert "Known: [" in str(info.value)
    with pytest.raises(SettingsError, match=r"unknown setting 'dlq_topc' \(did you mean 'dlq_topic'\?\). Known: \["):
        Settings.load(env={}, dlq_topc="x")


def test_sections_validate_on_their_own() -> None:
    for section in Settings().sections():
        assert section.problems() == [], section
    assert KafkaSettings(bootstrap="localhost").problems() == [
        "kafka_bootstrap must be host:port[,host:port...], got 'localhost'"
    ]
    assert JobSettings(parallelism=0, name="bad name").problems() == [
        "job_name must be non-empty letters, digits, '.', '_' or '-', got 'bad name'",
        "parallelism must be at least 1, got 0",
    ]
    assert RegistrySettings(url=SecretUrl("ftp://u:pw@x")).problems() == [
        "registry_url must be an http(s) URL, got 'ftp://***@x'"
    ]
    assert ObservationSettings(exporter_port=70000).problems() == [
        "exporter_port must be 0 (off) or a TCP port, got 70000"
    ]
    # A section sees only itself: the rules spanning sections are the Settings' own.
    assert JobSettings(pii_salt=Secret(LOCAL_PII_SALT)).problems() == []
    assert KafkaSettings(bootstrap="kafka.prod:9092").problems() == []
    assert ClusterSettings(taskmanagers=4).problems() == []
    with pytest.raises(SettingsError, match="metrics_port '9249-9251' has too few ports"):
        Settings.load(env={}, cluster_taskmanagers=4, metrics_port="9249-9251")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("python_execution_mode", "python_execution_mode must be one of ('process', 'thread'), got 'fast'"),
        ("start_from", "start_from must be one of ('lake', 'group-offsets', 'earliest'), got 'fast'"),
        ("execution_target", "execution_target must be 'local' or 'remote', got 'fast'"),
        (
            "kafka_security_protocol",
            "kafka_security_protocol must be one of ('PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'), got 'fast'",
        ),
        (
            "kafka_sasl_mechanism",
            "kafka_sasl_mechanism must be one of ('PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'), got 'fast'",
        ),
    ],
)
def test_fixed_choices_are_refused_outside_their_literal_type(key: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load(env={"LAKEGATE_" + key.upper(): "fast"})
    assert str(info.value) == f"invalid settings:\n  - {message}"


# ---- secrets -----------------------------------------------------------------------------------------------


def test_a_secret_is_masked_wherever_it_is_shown_and_read_only_by_reveal() -> None:
    secret = Secret("canary-password")
    assert str(secret) == "***" and repr(secret) == "Secret('***')"
    assert "canary" not in f"{secret} {secret!r} {[secret]} {dict(s=secret)}"
    assert secret.reveal() == "canary-password"
    assert secret and not Secret("")
    assert str(Secret("")) == "" and secret.stripped() == Secret("")
    assert secret == Secret("canary-password") != Secret("other")
    assert copy.deepcopy(secret) is secret


def test_a_secret_refuses_to_be_pickled_until_stripped() -> None:
    with pytest.raises(SettingsError, match="without_secrets"):
        pickle.dumps(Secret("canary-password"))
    assert pickle.loads(pickle.dumps(Secret("canary-password").stripped())) == Secret("")
    settings = Settings.load(env={"LAKEGATE_PII_SALT": "canary-" + "s" * 20})
    with pytest.raises(SettingsError, match="without_secrets"):
        pickle.dumps(settings)
    assert pickle.loads(pickle.dumps(settings.without_secrets())) == settings.without_secrets()


def test_a_secret_url_masks_and_strips_only_its_credentials() -> None:
    url = SecretUrl("https://svc:canary@registry.example:8443/api")
    assert str(url) == "https://***@registry.example:8443/api" and "canary" not in repr(url)
    assert url.public == "https://registry.example:8443/api"
    assert url.stripped() == SecretUrl("https://registry.example:8443/api")
    plain = SecretUrl("http://127.0.0.1:18081/apis/ccompat/v7")
    assert str(plain) == plain.reveal() == plain.public and plain.stripped() == plain
    assert pickle.loads(pickle.dumps(plain)) == plain
    # A worker takes its own credentials back only for the same registry.
    assert url.stripped().restored_from(url) == url
    assert url.stripped().restored_from(SecretUrl("https://svc:canary@elsewhere.example/api")) == url.stripped()


def test_every_secret_is_found_by_its_type() -> None:
    settings = Settings.load(
        env={},
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="svc",
        kafka_sasl_password="canary-kafka",
        registry_url="https://svc:canary-registry@registry.example/api",
        pii_salt="canary-pii-salt-0123456789",
        catalog_uri="postgresql://lake:canary-catalog@db.example:5432/lake",
        s3_access_key_id="AKIAEXAMPLE",
        s3_secret_access_key="canary-s3",
    )
    secrets = {key for key, value in settings.flat().items() if isinstance(value, Secret)}
    assert secrets == {
        "kafka_sasl_password",
        "registry_url",
        "pii_salt",
        "catalog_uri",
        "catalog_token",
        "catalog_credential",
        "s3_secret_access_key",
    }
    assert "canary" not in repr(settings) + str(settings.masked()) + json.dumps(settings.masked_sections())
    stripped = settings.without_secrets()
    assert "canary" not in stripped.to_env().__repr__()
    assert stripped.kafka.sasl_password == Secret("") and stripped.job.pii_salt == Secret("")
    assert stripped.registry.url.reveal() == "https://registry.example/api"
    assert stripped.catalog.uri.reveal() == "postgresql://db.example:5432/lake"
    assert settings.to_env()["LAKEGATE_KAFKA_SASL_PASSWORD"] == "canary-kafka"  # a child's environment only


def test_lakegate_settings_prints_every_setting_by_section_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("LAKEGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LAKEGATE_REGISTRY_URL", "https://svc:canary@registry.example/api")
    assert cli.main(["settings"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert list(shown) == [
        "paths",
        "kafka",
        "registry",
        "catalog",
        "objectstore",
        "readmodels",
        "job",
        "cluster",
        "observation",
    ]
    assert sorted(key for section in shown.values() for key in section) == sorted(FLAT_KEYS)
    assert shown["registry"]["registry_url"] == "https://***@registry.example/api"
    assert shown["job"]["pii_salt"] == "***" and shown["kafka"]["kafka_bootstrap"] == "127.0.0.1:19092"
