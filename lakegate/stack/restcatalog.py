"""An Iceberg REST catalog server on loopback, for tests and a local trial (``lakegate stack up --with
rest-catalog``): Iceberg's reference REST adapter in front of a JDBC catalog on a SQLite file
(``jvm/restcatalog``, the ``restcatalog`` artifact group).

It serves the catalog ``catalog_uri`` names (an ``http://127.0.0.1:<port>`` URL: production points it at its
own service), keeps tables under ``paths.warehouse`` and its own database under ``<home>/restcatalog``, and
asks every request for ``catalog_token`` as its bearer token when one is set. Invariant: the token reaches the
server through its environment only, never a command line or its log.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request

from lakegate import jvm, objectstore, warehouse
from lakegate.errors import StackError
from lakegate.settings import Settings
from lakegate.stack.process import Service

# The variable the server reads its token from (LocalRestCatalog.TOKEN_ENV), not the clients' one.
TOKEN_ENV = "LAKEGATE_REST_CATALOG_TOKEN"  # noqa: S105 - a variable's name, not a secret
HEAP_MB = 256


def service(settings: Settings) -> Service:
    return Service("rest-catalog", settings.paths.home / "run")


def port(settings: Settings) -> int:
    """The loopback port ``catalog_uri`` names; StackError when it names no local REST catalog."""
    parts = urllib.parse.urlsplit(settings.catalog.uri.public)
    if settings.catalog.kind != "rest" or parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
        raise StackError(
            "the local REST catalog serves catalog_uri = http://127.0.0.1:<port>; catalog_uri is "
            f"{str(settings.catalog.uri) or 'empty (the SQLite catalog)'}: set it (LAKEGATE_CATALOG_URI) to start one"
        )
    return parts.port or 80


def start(settings: Settings) -> None:
    database = settings.paths.home / "restcatalog" / "catalog.db"
    database.parent.mkdir(parents=True, exist_ok=True)
    if not warehouse.on_object_store(settings):
        settings.paths.warehouse_path.mkdir(parents=True, exist_ok=True)
    classpath = os.pathsep.join(str(j) for j in jvm.rest_catalog_classpath(settings))
    command = [
        jvm.java_executable(settings),
        f"-Xmx{HEAP_MB}m",
        "-XX:+UseSerialGC",
        "-cp",
        classpath,
        "io.lakegate.restcatalog.LocalRestCatalog",
        str(port(settings)),
        str(database),
        warehouse.uri(settings),
        # Iceberg's S3FileIO for a warehouse on S3: endpoint, region, addressing; the keys go in `env`.
        *(f"{key}={value}" for key, value in objectstore.iceberg_java_options(settings).items()),
    ]
    env = dict(os.environ) | objectstore.jvm_environment(settings)
    env.pop(TOKEN_ENV, None)
    if settings.catalog.token:
        env[TOKEN_ENV] = settings.catalog.token.reveal()
    service(settings).start(command, lambda: ready(settings), timeout_s=60.0, env=env)


def ready(settings: Settings) -> bool:
    request = urllib.request.Request(settings.catalog.uri.public.rstrip("/") + "/v1/config")  # noqa: S310
    if settings.catalog.token:
        request.add_header("Authorization", f"Bearer {settings.catalog.token.reveal()}")
    with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310
        return response.status == 200 and "defaults" in json.loads(response.read())


def stop(settings: Settings) -> None:
    service(settings).stop()
