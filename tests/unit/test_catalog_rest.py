"""The REST catalog settings (``catalog_uri = http(s)://...``, ``catalog_token``, the OAuth2 client credentials
``catalog_credential``, ``catalog_warehouse``): what each side gets, what is refused, and that the token and the
client secret stay secrets (no server: tests/job/test_catalog_services.py runs one)."""

from __future__ import annotations

import argparse
import pickle

import pytest

from lakegate import catalog, cli
from lakegate.errors import CatalogUnavailableError, SettingsError, StackError
from lakegate.settings import Settings
from lakegate.stack import restcatalog
from lakegate.testing.ports import free_port

TOKEN = "t0ken-s3cret"


def test_an_http_uri_is_a_rest_catalog_whose_token_reaches_java_through_the_environment_only() -> None:
    settings = Settings.load(env={}, catalog_uri="https://catalog.internal:8181/api/catalog", catalog_token=TOKEN)
    assert settings.catalog.kind == "rest"
    options = catalog.flink_catalog_options(settings)
    assert options == {
        "type": "iceberg",
        "catalog-impl": "io.lakegate.flink.catalog.EnvRestCatalog",
        "uri": "https://catalog.internal:8181/api/catalog",
        "lakegate.token-env": "LAKEGATE_CATALOG_TOKEN",
        "lakegate.credential-env": "LAKEGATE_CATALOG_CREDENTIAL",
    }
    assert settings.to_env()["LAKEGATE_CATALOG_TOKEN"] == TOKEN  # how a job's child process gets it
    assert settings.masked()["catalog_token"] == "***"
    assert catalog.catalog_location(settings) == "rest https://catalog.internal:8181/api/catalog"
    travelling = pickle.dumps(settings.without_secrets())  # what job graphs carry
    assert TOKEN.encode() not in travelling


def test_client_credentials_reach_java_through_the_environment_and_name_their_token_endpoint() -> None:
    settings = Settings.load(
        env={},
        catalog_uri="https://catalog.internal:8181/api/catalog/",
        catalog_credential=f"lakegate:{TOKEN}",
        catalog_warehouse="lake",
    )
    options = catalog.flink_catalog_options(settings)
    assert options == {
        "type": "iceberg",
        "catalog-impl": "io.lakegate.flink.catalog.EnvRestCatalog",
        "uri": "https://catalog.internal:8181/api/catalog/",
        "lakegate.token-env": "LAKEGATE_CATALOG_TOKEN",
        "lakegate.credential-env": "LAKEGATE_CATALOG_CREDENTIAL",
        "warehouse": "lake",
        # named, not left to the clients' deprecated fallback to the catalog's own endpoint
        "oauth2-server-uri": "https://catalog.internal:8181/api/catalog/v1/oauth/tokens",
        "scope": "catalog",
    }
    assert settings.to_env()["LAKEGATE_CATALOG_CREDENTIAL"] == f"lakegate:{TOKEN}"
    assert settings.masked()["catalog_credential"] == "***"
    assert TOKEN.encode() not in pickle.dumps(settings.without_secrets())
    elsewhere = settings.replace(
        catalog_oauth2_server_uri="https://login.example/token", catalog_scope="PRINCIPAL_ROLE:ALL"
    )
    assert catalog.flink_catalog_options(elsewhere)["oauth2-server-uri"] == "https://login.example/token"
    assert catalog.flink_catalog_options(elsewhere)["scope"] == "PRINCIPAL_ROLE:ALL"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"catalog_uri": "http://u:p@h:8181"}, "put the bearer token in catalog_token"),
        ({"catalog_uri": "http://h:port"}, "its port is not a number"),
        ({"catalog_uri": "http://h:8181?warehouse=x"}, "no ?options or #fragment"),
        ({"catalog_uri": "http://:8181"}, "a host"),
        ({"catalog_token": TOKEN}, "set catalog_uri to its http(s) URL"),
        ({"catalog_token": TOKEN, "catalog_uri": "postgresql://a:b@h:5432/d"}, "catalog_token: settings of a REST"),
        ({"catalog_credential": f"id:{TOKEN}"}, "catalog_credential: settings of a REST catalog, set catalog_uri"),
        ({"catalog_warehouse": "lake", "catalog_scope": "all"}, "catalog_warehouse, catalog_scope: settings of a"),
        ({"catalog_uri": "http://h:8181", "catalog_credential": "id:"}, "must be client_id:client_secret"),
        ({"catalog_uri": "http://h:8181", "catalog_credential": f":{TOKEN}"}, "must be client_id:client_secret"),
        ({"catalog_uri": "http://h:8181", "catalog_oauth2_server_uri": "login/token"}, "must be an http(s) URL"),
        (
            {"catalog_uri": "http://h:8181", "catalog_oauth2_server_uri": f"https://id:{TOKEN}@h/t"},
            "not hold credentials",
        ),
        ({"catalog_uri": "http://h:8181", "catalog_scope": " "}, "catalog_scope must name the OAuth2 scope"),
    ],
)
def test_rest_catalog_settings_lakegate_cannot_use_are_refused_with_what_to_do(
    changes: dict[str, str], problem: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.load(env={}, **changes)
    assert problem in str(refused.value)
    assert TOKEN not in str(refused.value) and ":p@" not in str(refused.value)


def test_the_local_rest_catalog_serves_only_a_loopback_http_catalog_uri() -> None:
    assert restcatalog.port(Settings.load(env={}, catalog_uri="http://127.0.0.1:18181")) == 18181
    for uri in ("", "http://catalog.internal:8181", "https://127.0.0.1:8181"):
        with pytest.raises(StackError) as refused:
            restcatalog.port(Settings.load(env={}, catalog_uri=uri))
        assert "catalog_uri = http://127.0.0.1:<port>" in str(refused.value)


def test_the_local_rest_catalog_refuses_a_token_endpoint_other_than_its_own() -> None:
    settings = Settings.load(
        env={},
        catalog_uri=f"http://127.0.0.1:{free_port()}",
        catalog_credential=f"lakegate:{TOKEN}",
        catalog_oauth2_server_uri="https://login.example/oauth2/token",
    )
    with pytest.raises(StackError) as refused:
        restcatalog.start(settings)
    assert "issues its own tokens" in str(refused.value) and "leave it empty" in str(refused.value)
    assert TOKEN not in str(refused.value)


def test_a_rest_catalog_that_does_not_answer_stops_the_command_with_what_to_check() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CatalogUnavailableError) as refused:
        catalog.open_catalog(Settings.load(env={}, catalog_uri=uri, catalog_token=TOKEN))
    message = str(refused.value)
    assert f"cannot open the Iceberg catalog at rest {uri}: ConnectionError" in message
    assert "the REST catalog server is up" in message and TOKEN not in message


def test_stack_with_names_only_known_services() -> None:
    assert cli._optional_services("rest-catalog") == ("rest-catalog",)
    assert cli._optional_services("rest-catalog,object-store") == ("rest-catalog", "object-store")
    assert cli._optional_services("") == ()
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        cli._optional_services("rest-catalog,minio")
    assert "unknown service minio; known: rest-catalog, object-store" in str(refused.value)
