"""The object-store settings (s3_*) and the local object store's configuration, without starting it (the
server itself: tests/job/test_object_store.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakegate import cluster, warehouse
from lakegate.catalog import flink_catalog_options
from lakegate.errors import SettingsError, StackError
from lakegate.objectstore import (
    filesystem,
    flink_filesystem_options,
    iceberg_java_options,
    jvm_environment,
    pyiceberg_properties,
)
from lakegate.settings import Secret, Settings
from lakegate.stack import objectstore

SECRET = "s3-canary-secret"


def _local(tmp_path: Path, **changes: object) -> Settings:
    values: dict[str, object] = {
        "home": tmp_path,
        "s3_endpoint": "http://127.0.0.1:19000",
        "s3_access_key_id": "lakegate",
        "s3_secret_access_key": SECRET,
    }
    return Settings.load(env={}, **{**values, **changes})


def test_the_defaults_are_aws_with_the_environments_credentials() -> None:
    store = Settings.load(env={}).objectstore
    assert (store.endpoint, store.region, store.access_key_id, store.secret_access_key) == (
        "",
        "us-east-1",
        "",
        Secret(""),
    )
    assert store.path_style_access is True


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"s3_endpoint": "s3.example.com"}, "s3_endpoint must be http(s)://host[:port]"),
        ({"s3_endpoint": "http://objects.example:x"}, "s3_endpoint must be http(s)://host[:port]"),
        ({"s3_endpoint": "http://objects.example/bucket"}, "(no path, no ?options)"),
        ({"s3_endpoint": "http://objects.example?region=x"}, "(no path, no ?options)"),
        ({"s3_access_key_id": "lakegate"}, "set s3_access_key_id and s3_secret_access_key together"),
        ({"s3_secret_access_key": SECRET}, "set s3_access_key_id and s3_secret_access_key together"),
        ({"s3_region": "eu central"}, "s3_region"),
    ],
)
def test_object_store_settings_refuse_what_no_client_can_use(changes: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.load(env={}, **changes)
    assert problem in str(refused.value)
    assert SECRET not in str(refused.value)


def test_credentials_in_the_endpoint_are_refused_without_quoting_them() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.load(env={}, s3_endpoint=f"http://lakegate:{SECRET}@127.0.0.1:19000")
    assert "without user:password@" in str(refused.value) and "s3_secret_access_key" in str(refused.value)
    assert SECRET not in str(refused.value)


def test_the_secret_key_is_masked_and_read_from_the_environment() -> None:
    env = {"LAKEGATE_S3_ACCESS_KEY_ID": "lakegate", "LAKEGATE_S3_SECRET_ACCESS_KEY": SECRET}
    settings = Settings.load(env=env)
    assert settings.objectstore.secret_access_key.reveal() == SECRET
    assert SECRET not in repr(settings) + str(settings.masked())
    assert settings.to_env()["LAKEGATE_S3_SECRET_ACCESS_KEY"] == SECRET  # a child process gets it


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"s3_endpoint": ""}, "s3_endpoint is empty (AWS): set it (LAKEGATE_S3_ENDPOINT)"),
        ({"s3_endpoint": "https://127.0.0.1:19000"}, "serves s3_endpoint = http://127.0.0.1:<port>"),
        ({"s3_endpoint": "http://objects.example:9000"}, "serves s3_endpoint = http://127.0.0.1:<port>"),
        ({"s3_access_key_id": "", "s3_secret_access_key": ""}, "set both (LAKEGATE_S3_ACCESS_KEY_ID"),
    ],
)
def test_the_local_object_store_needs_a_loopback_endpoint_and_keys(
    tmp_path: Path, changes: dict[str, str], problem: str
) -> None:
    with pytest.raises(StackError) as refused:
        objectstore.port(_local(tmp_path, **changes))
    assert problem in str(refused.value)


def test_the_local_object_store_listens_on_loopback_and_checks_signatures(tmp_path: Path) -> None:
    text = objectstore.properties(_local(tmp_path), tmp_path / "data")
    lines = dict(line.split("=", 1) for line in text.splitlines())
    assert lines["s3proxy.endpoint"] == "http://127.0.0.1:19000"
    assert lines["s3proxy.authorization"] == "aws-v2-or-v4"
    assert (lines["s3proxy.identity"], lines["s3proxy.credential"]) == ("lakegate", SECRET)
    assert lines["jclouds.filesystem.basedir"] == str(tmp_path / "data")
    with pytest.raises(StackError, match="one line without backslashes"):
        objectstore.properties(_local(tmp_path, s3_secret_access_key="a\nb"), tmp_path / "data")


def _options(settings: Settings, **kwargs: bool) -> dict[str, object]:
    options = filesystem(settings, **kwargs).__reduce__()[1][0]  # pyarrow pickles the filesystem by its options
    assert isinstance(options, dict)
    return options


def test_python_reaches_the_store_the_settings_name_with_their_keys(tmp_path: Path) -> None:
    options = _options(_local(tmp_path, s3_region="eu-central-1"))
    assert (options["scheme"], options["endpoint_override"], options["region"]) == (
        "http",
        "127.0.0.1:19000",
        "eu-central-1",
    )
    assert (options["access_key"], options["secret_key"]) == ("lakegate", SECRET)
    assert options["force_virtual_addressing"] is False and options["allow_bucket_creation"] is False
    assert _options(_local(tmp_path), allow_bucket_creation=True)["allow_bucket_creation"] is True
    aws = _options(Settings.load(env={}, s3_path_style_access=False))
    assert (aws["endpoint_override"], aws["access_key"], aws["force_virtual_addressing"]) == ("", None, True)


# ---- the warehouse on S3 (s3_warehouse) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["lake", "s3://Lake/w", "s3://la", "s3://lake?x=1", "s3://lake//w", "file:///tmp/w", "s3a://lake/w"]
)
@pytest.mark.parametrize("key", ["s3_warehouse", "s3_checkpoints"])
def test_a_warehouse_or_checkpoints_outside_an_s3_bucket_are_refused(key: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"{key} must be s3://bucket\[/prefix\]"):
        Settings.load(env={}, **{key: value})


def test_keys_in_the_warehouse_uri_are_refused_without_quoting_them() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.load(env={}, s3_warehouse=f"s3://lakegate:{SECRET}@lake/w")
    assert "user:password@" in str(refused.value) and SECRET not in str(refused.value)


def test_every_client_reaches_the_warehouse_bucket_with_the_same_endpoint_and_region(tmp_path: Path) -> None:
    settings = _local(tmp_path, s3_warehouse="s3://lake/w/", s3_region="eu-central-1")
    assert warehouse.uri(settings) == "s3://lake/w"
    assert pyiceberg_properties(settings) == {
        "s3.endpoint": "http://127.0.0.1:19000",
        "s3.region": "eu-central-1",
        "s3.force-virtual-addressing": "false",
        "s3.access-key-id": "lakegate",
        "s3.secret-access-key": SECRET,
    }
    # The JVM's options travel in job graphs: no key there; the keys go to its environment only.
    java = iceberg_java_options(settings)
    assert java == {
        "io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        "client.region": "eu-central-1",
        "s3.path-style-access": "true",
        "s3.endpoint": "http://127.0.0.1:19000",
    }
    assert SECRET not in str(java) and SECRET not in str(flink_filesystem_options(settings))
    env = jvm_environment(settings)
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("lakegate", SECRET)
    assert env["AWS_REQUEST_CHECKSUM_CALCULATION"] == env["AWS_RESPONSE_CHECKSUM_VALIDATION"] == "WHEN_REQUIRED"
    assert flink_filesystem_options(settings)["s3.endpoint"] == "http://127.0.0.1:19000"
    # Catalogs name the bucket as the warehouse; the embedded SQLite one and PostgreSQL's alike.
    assert flink_catalog_options(settings)["warehouse"] == "s3://lake/w"
    assert flink_catalog_options(settings)["io-impl"] == java["io-impl"]


def test_a_warehouse_folder_adds_no_s3_option_and_aws_keeps_its_checksums(tmp_path: Path) -> None:
    settings = _local(tmp_path)
    assert warehouse.uri(settings) == settings.paths.warehouse_path.as_uri()
    assert pyiceberg_properties(settings) == iceberg_java_options(settings) == {}
    assert flink_filesystem_options(settings) == {}
    assert "io-impl" not in flink_catalog_options(settings)
    aws = Settings.load(env={}, s3_warehouse="s3://lake", s3_access_key_id="k", s3_secret_access_key=SECRET)
    assert "AWS_REQUEST_CHECKSUM_CALCULATION" not in jvm_environment(aws)
    assert "s3.endpoint" not in iceberg_java_options(aws) and jvm_environment(Settings.load(env={})) == {}


def test_checkpoints_in_a_bucket_put_every_kind_of_flink_state_there_on_both_targets(tmp_path: Path) -> None:
    settings = _local(tmp_path, s3_checkpoints="s3://flink-state/lake/")
    assert settings.objectstore.in_use and not settings.objectstore.warehouse
    # A local job's (jobs/runtime.py takes these under its home; the MiniCluster's options are built in a JVM).
    state = warehouse.flink_state(settings, settings.paths.home)
    assert ((state / "checkpoints").uri, (state / "changelog").uri) == (
        "s3://flink-state/lake/checkpoints",
        "s3://flink-state/lake/changelog",
    )
    assert flink_filesystem_options(settings)["s3.directory.marker.retention"] == "keep"
    # A session cluster's.
    session = cluster.configuration(settings)
    assert session["execution.checkpointing.dir"] == "s3://flink-state/lake/checkpoints"
    assert session["execution.checkpointing.savepoint-dir"] == "s3://flink-state/lake/savepoints"
    assert session["state.changelog.dstl.dfs.base-path"] == "s3://flink-state/lake/changelog"
    assert session["s3.endpoint"] == "http://127.0.0.1:19000"
    assert SECRET not in str(session), "keys reach the JVMs through their environment only"
    # Without it, Flink's state stays in folders and no S3 option is set.
    plain = cluster.configuration(_local(tmp_path))
    assert plain["execution.checkpointing.dir"] == (tmp_path / "cluster" / "checkpoints").resolve().as_uri()
    assert not any(key.startswith("s3.") for key in plain)
    assert (warehouse.flink_state(_local(tmp_path), tmp_path) / "checkpoints").uri == (
        tmp_path / "checkpoints"
    ).as_uri()
