"""RegistryClient against a real loopback HTTP server speaking the Confluent REST API."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from udfs import registry as registry_module
from udfs.errors import BadRecord, RegistryRejected, RegistryUnavailable
from udfs.reasons import Reason
from udfs.registry import NOT_FOUND_TTL_S, InMemorySchemas, RegistryClient

SCHEMA = '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}'
PREFIX = "/apis/ccompat/v7"
SECRET = "Bearer s3cr3t-token"


@dataclass
class Registry:
    """Scripted answers: path -> list of (status, body); the last answer repeats."""

    answers: dict[str, list[tuple[int, object]]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def hits(self, path: str) -> int:
        return sum(1 for _, p, _, _ in self.requests if p == PREFIX + path)


@pytest.fixture
def registry() -> Iterator[Registry]:
    state = Registry()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.requests.append((self.command, self.path, dict(self.headers), self.rfile.read(length)))
            queue = state.answers.get(self.path.removeprefix(PREFIX), [(404, "<html>not here</html>")])
            status, body = queue.pop(0) if len(queue) > 1 else queue[0]
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = _answer  # noqa: N815 - http.server naming

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def client(registry: Registry, **kw: object) -> tuple[RegistryClient, list[float]]:
    sleeps: list[float] = []
    defaults: dict[str, object] = {"retries": 3, "backoff_s": 0.01, "sleep": sleeps.append, "timeout_s": 2.0}
    return RegistryClient(registry.url, **{**defaults, **kw}), sleeps  # type: ignore[arg-type]


def test_found_schema_is_parsed_and_cached(registry: Registry) -> None:
    registry.answers["/schemas/ids/7"] = [(200, {"schema": SCHEMA})]
    c, _ = client(registry)
    first = c.writer_schema(7)
    assert (first.schema_id, first.text) == (7, SCHEMA)
    assert isinstance(first.parsed, dict)
    assert c.writer_schema(7) is first
    assert registry.hits("/schemas/ids/7") == 1


def test_not_found_40403_is_bad_record_and_negatively_cached(registry: Registry) -> None:
    registry.answers["/schemas/ids/999"] = [
        (404, {"message": "No content with ID '999' was found.", "error_code": 40403}),
        (200, {"schema": SCHEMA}),
    ]
    now = [1000.0]
    c, _ = client(registry, clock=lambda: now[0])
    for _ in range(3):
        with pytest.raises(BadRecord) as info:
            c.writer_schema(999)
        assert info.value.reason is Reason.unknown_schema_id
    assert registry.hits("/schemas/ids/999") == 1
    now[0] += NOT_FOUND_TTL_S + 1
    assert c.writer_schema(999).schema_id == 999
    assert registry.hits("/schemas/ids/999") == 2


def test_bare_404_without_registry_error_is_an_outage(registry: Registry) -> None:
    # e.g. a wrong base URL: quarantining every record would be wrong
    c, _ = client(registry)
    with pytest.raises(RegistryUnavailable, match="HTTP 404"):
        c.writer_schema(1)


def test_500_is_retried_with_backoff_then_succeeds(registry: Registry) -> None:
    registry.answers["/schemas/ids/3"] = [
        (500, {"error_code": 50001}),
        (503, "busy"),
        (200, {"schema": SCHEMA}),
    ]
    c, sleeps = client(registry, backoff_s=0.5)
    assert c.writer_schema(3).schema_id == 3
    assert registry.hits("/schemas/ids/3") == 3
    assert sleeps == [0.5, 1.0]


def test_persistent_500_raises_registry_unavailable(registry: Registry) -> None:
    registry.answers["/schemas/ids/3"] = [(500, {"error_code": 50001})]
    c, sleeps = client(registry, retries=4, backoff_s=0.1)
    with pytest.raises(RegistryUnavailable, match="5 attempts"):
        c.writer_schema(3)
    assert registry.hits("/schemas/ids/3") == 5
    assert sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert not isinstance(RegistryUnavailable("x"), BadRecord)


def test_connection_refused_is_registry_unavailable() -> None:
    c = RegistryClient("http://127.0.0.1:1/apis/ccompat/v7", retries=1, backoff_s=0, sleep=lambda _s: None)
    with pytest.raises(RegistryUnavailable):
        c.writer_schema(1)


def test_headers_are_sent_but_never_shown(registry: Registry) -> None:
    registry.answers["/schemas/ids/3"] = [(401, {"error_code": 40101, "message": "unauthorized"})]
    c, _ = client(registry, headers={"Authorization": SECRET})
    assert SECRET not in repr(c)
    assert "Authorization" in repr(c)
    with pytest.raises(RegistryUnavailable) as info:
        c.writer_schema(3)
    assert SECRET not in str(info.value)
    assert registry.requests[0][2]["Authorization"] == SECRET
    assert registry.hits("/schemas/ids/3") == 1  # auth errors are not retried


def test_url_credentials_are_masked() -> None:
    c = RegistryClient("http://user:pa55@127.0.0.1:1/x", retries=0, sleep=lambda _s: None)
    assert "pa55" not in repr(c)
    with pytest.raises(RegistryUnavailable) as info:
        c.writer_schema(1)
    assert "pa55" not in str(info.value)


def test_non_avro_schema_is_a_bad_record(registry: Registry) -> None:
    registry.answers["/schemas/ids/4"] = [(200, {"schema": "syntax = 'proto3';", "schemaType": "PROTOBUF"})]
    c, _ = client(registry)
    with pytest.raises(BadRecord) as info:
        c.writer_schema(4)
    assert info.value.reason is Reason.schema_mismatch


def test_register_and_subjects(registry: Registry) -> None:
    registry.answers["/subjects/support.tickets.v1-value/versions"] = [(200, {"id": 12})]
    registry.answers["/subjects"] = [(200, ["support.tickets.v1-value"])]
    c, _ = client(registry)
    assert c.register("support.tickets.v1-value", SCHEMA) == 12
    method, _, headers, body = registry.requests[-1]
    assert method == "POST"
    assert headers["Content-Type"] == "application/vnd.schemaregistry.v1+json"
    assert json.loads(body) == {"schema": SCHEMA}
    assert c.subjects() == ["support.tickets.v1-value"]


def test_register_rejected(registry: Registry) -> None:
    registry.answers["/subjects/s/versions"] = [(409, {"error_code": 409, "message": "incompatible"})]
    c, _ = client(registry)
    with pytest.raises(RegistryRejected, match="incompatible"):
        c.register("s", SCHEMA)


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="http"):
        RegistryClient("file:///etc/passwd")


def test_in_memory_schemas() -> None:
    schemas = InMemorySchemas()
    first = schemas.add(SCHEMA)
    assert schemas.add(SCHEMA) == first
    assert schemas.writer_schema(first).text == SCHEMA
    with pytest.raises(BadRecord) as info:
        schemas.writer_schema(first + 1)
    assert info.value.reason is Reason.unknown_schema_id


COMPAT = "/compatibility/subjects/t-value/versions/latest"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ((200, {"is_compatible": True}), True),
        ((200, {"is_compatible": False, "messages": ["field b"]}), False),
        ((404, {"error_code": 40401, "message": "Subject 't-value' not found."}), None),
        ((404, {"error_code": 40402, "message": "Version not found."}), None),
    ],
)
def test_is_compatible(registry: Registry, answer: tuple[int, object], expected: bool | None) -> None:
    registry.answers[COMPAT] = [answer]
    client = RegistryClient(registry.url, retries=0)
    assert client.is_compatible("t-value", SCHEMA) is expected
    method, path, _headers, body = registry.requests[-1]
    assert (method, path) == ("POST", PREFIX + COMPAT)
    assert json.loads(body) == {"schema": SCHEMA}


def test_is_compatible_outage_and_bare_404_are_unavailable(registry: Registry) -> None:
    client = RegistryClient(registry.url, retries=0)
    with pytest.raises(RegistryUnavailable):
        client.is_compatible("t-value", SCHEMA)  # bare 404 page: wrong URL, not "nothing registered"
    registry.answers[COMPAT] = [(503, {"error_code": 50301})]
    with pytest.raises(RegistryUnavailable):
        client.is_compatible("t-value", SCHEMA)
    registry.answers[COMPAT] = [(422, {"error_code": 42201, "message": "Invalid schema"})]
    with pytest.raises(RegistryRejected):
        client.is_compatible("t-value", SCHEMA)


def test_url_credentials_become_basic_auth_and_leave_the_url(registry: Registry) -> None:
    registry.answers["/schemas/ids/5"] = [(200, {"schema": '"string"'})]
    with_credentials = registry.url.replace("http://", "http://svc%40corp:pa%3A55@")
    c = RegistryClient(with_credentials, retries=0)
    assert c.writer_schema(5).schema_id == 5
    _, path, headers, _ = registry.requests[0]
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"svc@corp:pa:55").decode()
    assert "pa%3A55" not in path and "svc" not in path
    assert "pa%3A55" not in repr(c) and "pa:55" not in repr(c)


def test_a_refused_lookup_is_an_outage_never_a_bad_record(registry: Registry) -> None:
    registry.answers["/schemas/ids/6"] = [(422, {"error_code": 42201, "message": "unprocessable"})]
    c, _ = client(registry)
    with pytest.raises(RegistryUnavailable):
        c.writer_schema(6)


def test_the_not_found_cache_stays_bounded(registry: Registry) -> None:
    now = [0.0]
    registry.answers = {f"/schemas/ids/{i}": [(404, {"error_code": 40403, "message": "no"})] for i in range(3)}
    c, _ = client(registry, clock=lambda: now[0])
    limit = registry_module._MAX_MISSING
    registry_module._MAX_MISSING = 2
    try:
        for i in range(3):
            with pytest.raises(BadRecord):
                c.writer_schema(i)
        assert len(c._missing_until) <= 2
    finally:
        registry_module._MAX_MISSING = limit
