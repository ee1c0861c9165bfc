"""An S3-compatible object store on loopback, for tests and a local trial (``lakegate stack up --with
object-store``): S3Proxy (the ``objectstore`` artifact group) on its filesystem backend, buckets as folders
under ``<home>/objectstore/data``.

It serves ``s3_endpoint`` (an ``http://127.0.0.1:<port>`` URL: production points it at its own store) and
accepts requests signed with ``s3_access_key_id`` and ``s3_secret_access_key`` (AWS signature v2 or v4).
Invariant: the secret key reaches the server in its properties file only (readable by its owner alone),
never a command line or its log.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from lakegate import jvm, warehouse
from lakegate.errors import StackError
from lakegate.logs import kv
from lakegate.objectstore import filesystem
from lakegate.settings import Settings
from lakegate.stack.process import Service

log = logging.getLogger(__name__)

HEAP_MB = 256
MAIN = "org.gaul.s3proxy.Main"
# S3Proxy logs through logback, whose default without a configuration is DEBUG for everything.
_LOGBACK = """<configuration>
  <appender name="out" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{ISO8601} %-5level %logger{36} - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="out"/></root>
</configuration>
"""


def service(settings: Settings) -> Service:
    return Service("object-store", settings.paths.home / "run")


def folder(settings: Settings) -> Path:
    """The server's folder: its properties, its log configuration and ``data/`` (one folder per bucket)."""
    return settings.paths.home / "objectstore"


def port(settings: Settings) -> int:
    """The loopback port ``s3_endpoint`` names; StackError when it names no local object store or the
    credentials are missing."""
    store = settings.objectstore
    parts = urllib.parse.urlsplit(store.endpoint)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
        raise StackError(
            "the local object store serves s3_endpoint = http://127.0.0.1:<port>; s3_endpoint is "
            f"{store.endpoint or 'empty (AWS)'}: set it (LAKEGATE_S3_ENDPOINT) to start one"
        )
    if not store.access_key_id:
        raise StackError(
            "the local object store accepts requests signed with s3_access_key_id and s3_secret_access_key: "
            "set both (LAKEGATE_S3_ACCESS_KEY_ID, LAKEGATE_S3_SECRET_ACCESS_KEY)"
        )
    return parts.port or 80


def properties(settings: Settings, data: Path) -> str:
    """S3Proxy's configuration (``--properties``): loopback, signed requests, buckets under ``data``."""
    store = settings.objectstore
    lines = {
        "s3proxy.endpoint": f"http://127.0.0.1:{port(settings)}",
        "s3proxy.authorization": "aws-v2-or-v4",
        "s3proxy.identity": store.access_key_id,
        "s3proxy.credential": store.secret_access_key.reveal(),
        "jclouds.provider": "filesystem-nio2",
        "jclouds.filesystem.basedir": str(data),
        # The backend's own login, which the filesystem backend ignores but S3Proxy requires.
        "jclouds.identity": "local",
        "jclouds.credential": "local",
    }
    for key, value in lines.items():
        if any(c in value for c in "\r\n\\"):
            raise StackError(f"{key} for the local object store must be one line without backslashes")
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def start(settings: Settings) -> None:
    home = folder(settings)
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = home / "s3proxy.properties"
    # Created readable by the owner alone before the secret is written into it.
    config.unlink(missing_ok=True)
    descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(properties(settings, data))
    logback = home / "logback.xml"
    logback.write_text(_LOGBACK)
    command = [
        jvm.java_executable(settings),
        f"-Xmx{HEAP_MB}m",
        "-XX:+UseSerialGC",
        f"-Dlogback.configurationFile={logback}",
        "-cp",
        os.pathsep.join(str(j) for j in jvm.jars(settings, "objectstore")),
        MAIN,
        "--properties",
        str(config),
    ]
    service(settings).start(command, lambda: ready(settings), timeout_s=60.0)
    if settings.objectstore.warehouse:
        # This store is the local trial's own: it starts with the bucket s3_warehouse names.
        bucket = warehouse.root(settings).path.split("/", 1)[0]
        filesystem(settings, allow_bucket_creation=True).create_dir(bucket)
        log.info("bucket ready", extra=kv(bucket=bucket))


def ready(settings: Settings) -> bool:
    """Up when it answers HTTP at all: an unsigned request is refused (403), which is an answer."""
    try:
        with urllib.request.urlopen(settings.objectstore.endpoint, timeout=3):  # noqa: S310 - loopback
            return True
    except urllib.error.HTTPError:
        return True


def stop(settings: Settings) -> None:
    service(settings).stop()
