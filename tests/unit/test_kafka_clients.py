"""Kafka client security settings: validated once, the same for the Java and the Python clients, and the
password never in what a Flink job graph carries."""

from __future__ import annotations

import pickle
from pathlib import Path

import cloudpickle  # what PyFlink serialises Python functions with
import pytest

from jobs import plan
from jobs.replay import ReplayFunction
from jobs.route import RouteBatches
from lakegate import kafka_clients
from lakegate.errors import SettingsError, StackError
from lakegate.settings import Settings
from lakegate.stack.kafka import _server_properties

CANARY = "canary-kafka-password-0123"


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")  # only its existence is checked by the settings
    return path


def _sasl_ssl(ca: Path, **extra: str) -> Settings:
    return Settings.load(
        env={
            "LAKEGATE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "LAKEGATE_KAFKA_SASL_USERNAME": "svc",
            "LAKEGATE_KAFKA_SASL_PASSWORD": CANARY,
            "LAKEGATE_KAFKA_SSL_CAFILE": str(ca),
            **extra,
        }
    )


def test_plaintext_by_default_adds_nothing_but_the_protocol() -> None:
    settings = Settings.load(env={})
    assert kafka_clients.java_properties(settings) == {"security.protocol": "PLAINTEXT"}
    assert kafka_clients.python_config(settings) == {
        "bootstrap_servers": settings.kafka.bootstrap,
        "security_protocol": "PLAINTEXT",
    }


def test_java_clients_get_sasl_and_tls_with_the_password_as_a_reference(ca: Path) -> None:
    props = kafka_clients.java_properties(_sasl_ssl(ca))
    assert props["security.protocol"] == "SASL_SSL" and props["sasl.mechanism"] == "PLAIN"
    assert props["sasl.jaas.config"] == (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="svc" password="${lakegate_env:LAKEGATE_KAFKA_SASL_PASSWORD}";'
    )
    assert props["config.providers.lakegate_env.class"].endswith("EnvVarConfigProvider")
    assert props["config.providers.lakegate_env.param.allowlist.pattern"] == "^LAKEGATE_KAFKA_SASL_PASSWORD$"
    assert props["ssl.truststore.type"] == "PEM" and props["ssl.truststore.location"] == str(ca)
    assert CANARY not in str(props)


def test_scram_uses_its_login_module(ca: Path) -> None:
    props = kafka_clients.java_properties(_sasl_ssl(ca, LAKEGATE_KAFKA_SASL_MECHANISM="SCRAM-SHA-512"))
    assert props["sasl.jaas.config"].startswith("org.apache.kafka.common.security.scram.ScramLoginModule required")


def test_python_clients_get_the_same_settings(ca: Path) -> None:
    config = kafka_clients.python_config(_sasl_ssl(ca))
    assert config["security_protocol"] == "SASL_SSL" and config["sasl_mechanism"] == "PLAIN"
    assert (config["sasl_plain_username"], config["sasl_plain_password"]) == ("svc", CANARY)
    assert config["ssl_cafile"] == str(ca) and config["ssl_check_hostname"] is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LAKEGATE_KAFKA_SECURITY_PROTOCOL": "TLS"}, "kafka_security_protocol must be one of"),
        ({"LAKEGATE_KAFKA_SASL_MECHANISM": "GSSAPI"}, "kafka_sasl_mechanism must be one of"),
        (
            {"LAKEGATE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "LAKEGATE_KAFKA_SASL_PASSWORD": "x"},
            "kafka_sasl_username must be set",
        ),
        (
            {
                "LAKEGATE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "LAKEGATE_KAFKA_SASL_USERNAME": 'a" b',
                "LAKEGATE_KAFKA_SASL_PASSWORD": "x",
            },
            "kafka_sasl_username must be set",
        ),
        (
            {"LAKEGATE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "LAKEGATE_KAFKA_SASL_USERNAME": "svc"},
            "LAKEGATE_KAFKA_SASL_PASSWORD",
        ),
        ({"LAKEGATE_KAFKA_SASL_USERNAME": "svc"}, "use SASL_PLAINTEXT or SASL_SSL"),
        (
            {
                "LAKEGATE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "LAKEGATE_KAFKA_SASL_USERNAME": "svc",
                "LAKEGATE_KAFKA_SASL_PASSWORD": 'pa"ss',
            },
            "must not contain",
        ),
        (
            {"LAKEGATE_KAFKA_SECURITY_PROTOCOL": "SSL", "LAKEGATE_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
            "kafka_ssl_cafile /nonexistent/ca.pem is not a file",
        ),
        ({"LAKEGATE_REGISTRY_CA_FILE": "/nonexistent/ca.pem"}, "registry_ca_file"),
    ],
)
def test_bad_security_settings_fail_with_what_to_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.load(env=env)


def test_a_cafile_without_tls_is_refused(ca: Path) -> None:
    with pytest.raises(SettingsError, match="use SSL or SASL_SSL"):
        Settings.load(env={"LAKEGATE_KAFKA_SSL_CAFILE": str(ca)})


def test_the_password_is_masked_and_left_out_of_flink_functions(ca: Path) -> None:
    settings = _sasl_ssl(ca, LAKEGATE_REGISTRY_URL=f"https://svc:{CANARY}@registry.example/api")
    assert CANARY not in repr(settings) and settings.masked()["kafka_sasl_password"] == "***"
    carried = settings.without_secrets()
    assert carried.registry.url.reveal() == "https://registry.example/api"
    assert CANARY.encode() not in pickle.dumps(carried)


def test_workers_take_the_secrets_back_from_their_own_environment(ca: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _sasl_ssl(
        ca, LAKEGATE_REGISTRY_URL=f"https://svc:{CANARY}@registry.example/api", LAKEGATE_PII_SALT="p" * 20
    )
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    restored = settings.without_secrets().with_worker_secrets()
    assert restored == settings
    # Credentials of another registry are not handed to this one.
    monkeypatch.setenv("LAKEGATE_REGISTRY_URL", f"https://svc:{CANARY}@elsewhere.example/api")
    assert settings.without_secrets().with_worker_secrets().registry.url.reveal() == "https://registry.example/api"


def test_the_job_functions_as_pickled_into_the_job_graph_carry_no_secret(ca: Path) -> None:
    settings = _sasl_ssl(
        ca, LAKEGATE_REGISTRY_URL=f"https://svc:{CANARY}@registry.example/api", LAKEGATE_PII_SALT=CANARY
    )
    # The route strips them itself, whatever it is given; the replay function is given a stripped copy.
    for function in (RouteBatches(settings, {"job_name": "ingest"}), ReplayFunction(settings.without_secrets())):
        assert CANARY.encode() not in cloudpickle.dumps(function)
    # The plan travels in the job graph too: its Kafka properties name the password's variable, not its value.
    kafka = plan.to_json({"kafka": plan._kafka(settings, None)})
    assert CANARY not in kafka and kafka_clients.PASSWORD_ENV in kafka


def test_a_local_broker_mirrors_the_client_security(ca: Path, tmp_path: Path) -> None:
    props = _server_properties(_sasl_ssl(ca), tmp_path, tmp_path / "keystore.pem")
    assert "listener.security.protocol.map=CLIENTS:SASL_SSL,CONTROLLER:PLAINTEXT" in props
    assert f'user_svc="{CANARY}"' in props and f"ssl.keystore.location={tmp_path / 'keystore.pem'}" in props
    with pytest.raises(StackError, match="server keystore"):
        _server_properties(_sasl_ssl(ca), tmp_path, None)
    with pytest.raises(StackError, match="SASL PLAIN only"):
        _server_properties(_sasl_ssl(ca, LAKEGATE_KAFKA_SASL_MECHANISM="SCRAM-SHA-256"), tmp_path, tmp_path)
    assert "CLIENTS:PLAINTEXT" in _server_properties(Settings.load(env={}), tmp_path)
