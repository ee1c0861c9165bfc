"""Settings: layering, strict keys, type conversion, validation and masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakegate.errors import SettingsError
from lakegate.settings import Settings


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
    from lakegate.errors import SettingsError
    from lakegate.settings import LOCAL_PII_SALT

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
