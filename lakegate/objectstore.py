"""The object store as each of lakegate's clients reaches it (settings ``objectstore``, the ``s3_*`` keys):
pyarrow's S3 filesystem (what Python reads and writes beside the Iceberg tables), pyiceberg's FileIO
properties, and Iceberg's ``S3FileIO`` on the JVM with the environment its AWS SDK reads.

Invariant: the keys come from the settings (or, when neither is set, from the environment's own
credential chain); they are never logged, and an endpoint carries no credentials (Settings refuses one).
"""

from __future__ import annotations

import urllib.parse

import pyarrow.fs as pafs

from lakegate.settings import Settings


def filesystem(settings: Settings, *, allow_bucket_creation: bool = False) -> pafs.S3FileSystem:
    """An S3 filesystem on ``s3_endpoint`` (AWS's own when empty) in ``s3_region``, signing with the
    settings' keys, path-style unless ``s3_path_style_access`` is off. Buckets are the operator's:
    creating one is allowed only when asked for."""
    store = settings.objectstore
    options: dict[str, object] = {
        "region": store.region,
        "force_virtual_addressing": not store.path_style_access,
        "allow_bucket_creation": allow_bucket_creation,
    }
    if store.endpoint:
        parts = urllib.parse.urlsplit(store.endpoint)
        options.update(scheme=parts.scheme, endpoint_override=parts.netloc)
    if store.access_key_id:
        options.update(access_key=store.access_key_id, secret_key=store.secret_access_key.reveal())
    return pafs.S3FileSystem(**options)


def pyiceberg_properties(settings: Settings) -> dict[str, str]:
    """pyiceberg's FileIO options for a warehouse on S3 (none for a folder): the same endpoint, region,
    addressing and keys as :func:`filesystem`."""
    if not settings.objectstore.warehouse:
        return {}
    store = settings.objectstore
    properties = {"s3.region": store.region, "s3.force-virtual-addressing": str(not store.path_style_access).lower()}
    if store.endpoint:
        properties["s3.endpoint"] = store.endpoint
    if store.access_key_id:
        properties |= {
            "s3.access-key-id": store.access_key_id,
            "s3.secret-access-key": store.secret_access_key.reveal(),
        }
    return properties


def iceberg_java_options(settings: Settings) -> dict[str, str]:
    """Iceberg's ``S3FileIO`` for a warehouse on S3 (none for a folder). No key: the AWS SDK reads them from
    its JVM's environment (:func:`jvm_environment`, set by :func:`jobs.runtime.prepare_process`)."""
    if not settings.objectstore.warehouse:
        return {}
    store = settings.objectstore
    options = {
        "io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        "client.region": store.region,
        "s3.path-style-access": str(store.path_style_access).lower(),
    }
    if store.endpoint:
        options["s3.endpoint"] = store.endpoint
    return options


def jvm_environment(settings: Settings) -> dict[str, str]:
    """What a JVM's AWS SDKs (Iceberg's ``S3FileIO``, Flink's S3 filesystem) read from its environment: the
    object store's keys, which job graphs and command lines never carry (none when the settings name none:
    the environment's own credentials, e.g. an instance role, are used); and, for an S3-compatible store
    (``s3_endpoint``), checksums only where S3 requires them: the SDK's default since 2.30 (a checksum header
    on every request) is refused by stores that do not implement it, S3Proxy among them ("501 A header you
    provided implies functionality that is not implemented")."""
    store = settings.objectstore
    env: dict[str, str] = {}
    if store.access_key_id:
        env |= {"AWS_ACCESS_KEY_ID": store.access_key_id, "AWS_SECRET_ACCESS_KEY": store.secret_access_key.reveal()}
    if store.endpoint:
        env |= {
            "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "WHEN_REQUIRED",
        }
    return env


def flink_filesystem_options(settings: Settings) -> dict[str, str]:
    """Flink's S3 filesystem (flink-s3-fs-hadoop, which maps ``s3.*`` to Hadoop's ``fs.s3a.*``) when a job
    reaches the store (``s3_warehouse``: the coverage journal and read-model state; ``s3_checkpoints``). No key:
    Hadoop's S3A reads them from the JVM's environment, as Iceberg's S3FileIO does (:func:`jvm_environment`)."""
    store = settings.objectstore
    if not store.in_use:
        return {}
    options = {
        "s3.endpoint.region": store.region,
        "s3.path.style.access": str(store.path_style_access).lower(),
        # After a write, S3A deletes the empty-folder markers above the new file (Hadoop 3.3's default): a
        # store that keeps folders as real ones (S3Proxy's filesystem backend) answers 500 and S3A retries
        # for minutes. Kept, as Hadoop 3.4 does by default; lakegate never lists by marker.
        "s3.directory.marker.retention": "keep",
    }
    if store.endpoint:
        options["s3.endpoint"] = store.endpoint
    return options
