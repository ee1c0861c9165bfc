"""The object store as lakegate's Python side reaches it (settings ``objectstore``, the ``s3_*`` keys):
pyarrow's S3 filesystem, for what Python reads and writes beside the Iceberg tables.

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
