"""The settings file shipped for the demo on object storage (deploy/local/lake-on-object-store.toml): valid,
and naming services `lakegate stack up --with object-store,rest-catalog` can start on loopback."""

from __future__ import annotations

from pathlib import Path

from lakegate.settings import Settings
from lakegate.stack import objectstore, restcatalog

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "local" / "lake-on-object-store.toml"


def test_the_shipped_file_puts_the_lake_in_a_local_bucket_behind_a_local_rest_catalog(tmp_path: Path) -> None:
    settings = Settings.load(file=SHIPPED, env={"LAKEGATE_HOME": str(tmp_path)})
    assert settings.catalog.kind == "rest" and settings.objectstore.warehouse.startswith("s3://")
    # What the stack's optional services check before they start: loopback ports, keys for the store.
    assert restcatalog.port(settings) > 0 and objectstore.port(settings) > 0
    assert settings.masked()["s3_secret_access_key"] == "***"
