"""An Iceberg REST catalog server on loopback, for tests and a local trial (``lakegate stack up --with
rest-catalog``): Iceberg's reference REST adapter in front of a JDBC catalog on a SQLite file
(``jvm/restcatalog``, the ``restcatalog`` artifact group).

It serves the catalog ``catalog_uri`` names (an ``http://127.0.0.1:<port>`` URL: production points it at its
own service), keeps tables under ``paths.warehouse`` (or ``s3_warehouse``) and its own database under
``<home>/restcatalog``. It asks every request for ``catalog_token`` as its bearer token when one is set. With
``catalog_credential`` it issues access tokens for those OAuth2 client credentials at its own
``/v1/oauth/tokens`` (``catalog_oauth2_server_uri`` left empty) and asks every request for one. With
``catalog_warehouse`` it serves only a client that asks for that warehouse. Invariant: the token and the client
secret reach the server through its environment only, never a command line or its log.
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

# The variables the server reads its token and its OAuth2 client from (LocalRestCatalog.TOKEN_ENV and
# CLIENT_ENV), not the clients' ones.
TOKEN_ENV = "LAKEGATE_REST_CATALOG_TOKEN"  # noqa: S105 - a variable's name, not a secret
CLIENT_ENV = "LAKEGATE_REST_CATALOG_CLIENT"
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
    own_endpoint = settings.catalog.own_token_endpoint
    if settings.catalog.credential and settings.catalog.token_endpoint != own_endpoint:
        raise StackError(
            f"the local REST catalog issues its own tokens at {own_endpoint}; catalog_oauth2_server_uri names "
            f"{settings.catalog.token_endpoint}, whose tokens it would refuse: leave it empty for a local trial"
        )
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
        *([f"lakegate.warehouse-name={settings.catalog.rest_warehouse}"] if settings.catalog.rest_warehouse else []),
    ]
    env = dict(os.environ) | objectstore.jvm_environment(settings)
    env.pop(TOKEN_ENV, None)
    env.pop(CLIENT_ENV, None)
    if settings.catalog.token:
        env[TOKEN_ENV] = settings.catalog.token.reveal()
    if settings.catalog.credential:
        env[CLIENT_ENV] = settings.catalog.credential.reveal()
    service(settings).start(command, lambda: ready(settings), timeout_s=60.0, env=env)


def ready(settings: Settings) -> bool:
    """Whether the server answers a configuration request as a client of ``settings`` makes it."""
    query = urllib.parse.urlencode(
        {"warehouse": settings.catalog.rest_warehouse} if settings.catalog.rest_warehouse else {}
    )
    url = settings.catalog.uri.public.rstrip("/") + "/v1/config" + (f"?{query}" if query else "")
    request = urllib.request.Request(url)  # noqa: S310 - loopback http, checked by port()
    token = _access_token(settings) if settings.catalog.credential else settings.catalog.token.reveal()
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310
        return response.status == 200 and "defaults" in json.loads(response.read())


def _access_token(settings: Settings) -> str:
    """An access token for ``catalog_credential``, from the server's token endpoint."""
    client_id, client_secret = settings.catalog.client
    form = {"grant_type": "client_credentials", "scope": settings.catalog.scope, "client_secret": client_secret}
    if client_id:
        form["client_id"] = client_id
    request = urllib.request.Request(  # noqa: S310 - loopback http, checked by port()
        settings.catalog.token_endpoint, data=urllib.parse.urlencode(form).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310
        return str(json.loads(response.read())["access_token"])


def stop(settings: Settings) -> None:
    service(settings).stop()
