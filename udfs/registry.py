"""Writer-schema lookup by id, against any Confluent-compatible schema registry.

Runs on the hot path inside Flink workers, so lookups are cached: schema ids are immutable, so a found
schema is cached forever; a not-found id is cached for 30 s so a burst of bad records does not hammer the
registry, yet an id registered a moment later is picked up. Outages raise :class:`RegistryUnavailable`
(after retries) and must never turn into quarantine. Stdlib ``urllib`` only, to keep workers lean.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import fastavro

from udfs.errors import BadRecord, RegistryRejected, RegistryUnavailable
from udfs.reasons import Reason

NOT_FOUND_TTL_S = 30.0
_MAX_MISSING = 10_000
SCHEMA_NOT_FOUND = 40403
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_RETRYABLE_STATUS = frozenset({408, 429})  # and every 5xx


@dataclass(frozen=True, slots=True)
class WriterSchema:
    schema_id: int
    text: str
    parsed: object  # fastavro.parse_schema result


def parse_writer_schema(schema_id: int, text: str) -> WriterSchema:
    """Parse registry text; a schema lakegate cannot read is a property of the record, so BadRecord."""
    try:
        parsed = fastavro.parse_schema(json.loads(text))
    except Exception as exc:
        raise BadRecord(
            Reason.schema_mismatch,
            f"writer schema {schema_id} is not a valid Avro schema ({type(exc).__name__})",
        ) from exc
    return WriterSchema(schema_id, text, parsed)


class SchemaSource(Protocol):
    def writer_schema(self, schema_id: int) -> WriterSchema:
        """Return the schema; BadRecord(unknown_schema_id) if absent, RegistryUnavailable on outage."""
        ...


class InMemorySchemas:
    """A registry in a dict, for tests and the event generator. Ids start at 1, like real registries."""

    def __init__(self) -> None:
        self._by_id: dict[int, WriterSchema] = {}
        self._by_text: dict[str, int] = {}

    def add(self, schema_text: str) -> int:
        if schema_text in self._by_text:
            return self._by_text[schema_text]
        schema_id = len(self._by_id) + 1
        self._by_id[schema_id] = parse_writer_schema(schema_id, schema_text)
        self._by_text[schema_text] = schema_id
        return schema_id

    def writer_schema(self, schema_id: int) -> WriterSchema:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise BadRecord(Reason.unknown_schema_id, f"schema id {schema_id} is not registered") from None


def _split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """``https://user:secret@host/path`` → (``https://host/path``, an HTTP Basic ``Authorization`` header).

    urllib does not turn URL userinfo into authentication (it would try to resolve ``user:secret@host``),
    so credentials in the configured URL become a header, and the URL used for requests has none.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, {}
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    clean = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, {"Authorization": f"Basic {token}"}


def _safe_url(url: str) -> str:
    """The URL without user:password, fit for logs and exceptions."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class RegistryClient:
    """Confluent Schema Registry REST client (also Apicurio ``/apis/ccompat/v7``, Karapace, Redpanda).

    A 404 counts as "schema not found" only when the body is the registry's own JSON error (error_code
    40403, or any error_code with HTTP 404); a bare 404 (wrong base URL, proxy page) is an infrastructure
    fault, otherwise a misconfigured URL would quarantine every record.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 5,
        backoff_s: float = 0.2,
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        ca_file: str | None = None,
    ) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"registry URL must be http(s): {_safe_url(url)!r}")
        self._url, credentials = _split_credentials(url.rstrip("/"))
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._headers = {**credentials, **(headers or {})}
        self._clock = clock
        self._sleep = sleep
        # https with a private CA: the bundle to check the registry's certificate against (hostname too).
        self._tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self._found: dict[int, WriterSchema] = {}
        self._missing_until: dict[int, float] = {}

    def __repr__(self) -> str:
        masked = {name: "***" for name in self._headers}
        return f"RegistryClient(url={_safe_url(self._url)!r}, headers={masked!r})"

    # -- data plane ------------------------------------------------------------------------------------

    def writer_schema(self, schema_id: int) -> WriterSchema:
        cached = self._found.get(schema_id)
        if cached is not None:
            return cached
        until = self._missing_until.get(schema_id)
        if until is not None and self._clock() < until:
            raise BadRecord(Reason.unknown_schema_id, f"schema id {schema_id} is not in the registry")
        try:
            status, body = self._request("GET", f"/schemas/ids/{schema_id}", not_found_ok=True)
        except RegistryRejected as exc:
            # A 4xx other than "not found" on a plain lookup is a registry or proxy problem, not the record's.
            raise RegistryUnavailable(f"registry refused the lookup of schema id {schema_id}: {exc}") from exc
        if status == 404:
            self._remember_missing(schema_id)
            raise BadRecord(Reason.unknown_schema_id, f"schema id {schema_id} is not in the registry")
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise RegistryUnavailable(f"unexpected answer for schema id {schema_id} from {self}")
        schema_type = body.get("schemaType", "AVRO")
        if schema_type != "AVRO":
            raise BadRecord(
                Reason.schema_mismatch,
                f"schema id {schema_id} is a {schema_type} schema; lakegate reads Avro",
            )
        schema = parse_writer_schema(schema_id, body["schema"])
        self._found[schema_id] = schema
        self._missing_until.pop(schema_id, None)
        return schema

    def _remember_missing(self, schema_id: int) -> None:
        now = self._clock()
        if len(self._missing_until) >= _MAX_MISSING:  # garbage ids are unbounded: forget the expired ones
            self._missing_until = {i: t for i, t in self._missing_until.items() if t > now}
            if len(self._missing_until) >= _MAX_MISSING:
                self._missing_until.clear()
        self._missing_until[schema_id] = now + NOT_FOUND_TTL_S

    # -- control plane ---------------------------------------------------------------------------------

    def register(self, subject: str, schema_text: str) -> int:
        """Register (or look up) a schema under a subject and return its global id."""
        path = f"/subjects/{urllib.parse.quote(subject, safe='')}/versions"
        _, body = self._request("POST", path, payload={"schema": schema_text})
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            raise RegistryUnavailable(f"unexpected answer to register from {self}")
        return int(body["id"])

    def is_compatible(self, subject: str, schema_text: str) -> bool | None:
        """Would the registry accept ``schema_text`` as the subject's next version, under the subject's
        compatibility level? None when nothing is registered under the subject yet (any schema is fine)."""
        path = f"/compatibility/subjects/{urllib.parse.quote(subject, safe='')}/versions/latest"
        status, body = self._request("POST", path, payload={"schema": schema_text}, not_found_ok=True)
        if status == 404:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("is_compatible"), bool):
            raise RegistryUnavailable(f"unexpected answer to a compatibility check from {self}")
        return bool(body["is_compatible"])

    def set_compatibility(self, subject: str, level: str) -> None:
        """Set the subject's compatibility level (BACKWARD, FULL_TRANSITIVE, ...): the registry then refuses
        incompatible registrations itself, and answers compatibility checks under it."""
        path = f"/config/{urllib.parse.quote(subject, safe='')}"
        self._request("PUT", path, payload={"compatibility": level})

    def subjects(self) -> list[str]:
        _, body = self._request("GET", "/subjects")
        if not isinstance(body, list):
            raise RegistryUnavailable(f"unexpected answer to list subjects from {self}")
        return [str(s) for s in body]

    # -- transport -------------------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, *, payload: object = None, not_found_ok: bool = False
    ) -> tuple[int, object]:
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"Accept": f"{_CONTENT_TYPE}, application/json", **self._headers}
        if data is not None:
            headers["Content-Type"] = _CONTENT_TYPE
        where = f"{method} {_safe_url(self._url)}{path}"
        problem = ""
        for attempt in range(self._retries + 1):
            if attempt:
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
            url = self._url + path  # scheme checked in __init__
            request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=self._timeout_s, context=self._tls) as response:  # noqa: S310
                    return response.status, _json_or_none(response.read())
            except urllib.error.HTTPError as err:
                body = _json_or_none(err.read())
                code = body.get("error_code") if isinstance(body, dict) else None
                if not_found_ok and (code == SCHEMA_NOT_FOUND or (err.code == 404 and isinstance(code, int))):
                    return 404, body
                if err.code in _RETRYABLE_STATUS or err.code >= 500:
                    problem = f"HTTP {err.code}"
                    continue
                if 400 <= err.code < 500 and err.code not in (401, 403, 404) and isinstance(code, int):
                    message = body.get("message", "") if isinstance(body, dict) else ""
                    raise RegistryRejected(err.code, code, str(message)[:500]) from None
                raise RegistryUnavailable(f"{where}: HTTP {err.code} (error_code {code})") from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
                problem = type(err).__name__ + (f" ({err.reason})" if isinstance(err, urllib.error.URLError) else "")
        raise RegistryUnavailable(f"{where}: {problem} after {self._retries + 1} attempts")


def _json_or_none(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return None
