"""Team contracts: ``schemas/<name>/contract.toml`` plus the Avro schema versions it lists.

Loading validates everything a job relies on, so a broken contract fails CI and job start-up with an
error naming the file, the field and the fix, instead of quarantining a whole topic at run time.
The format is documented in ``schemas/README.md``.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from udfs.columns import payload_columns
from udfs.compat import Compatibility
from udfs.errors import ContractError
from udfs.naming import check_keys
from udfs.pii import parse_pii
from udfs.readmodels import ReadModel, parse_read_models
from udfs.renames import field_renames, with_rename_hint
from udfs.rules import Rule, parse_rules

CONTRACT_FILE = "contract.toml"
DEFAULT_MAX_RECORD_BYTES = 1_048_576
DEFAULT_MAX_EVENT_TIME_SKEW_MS = 300_000  # 5 minutes
MAX_EVENT_TIME_SKEW_MS = 7 * 86_400_000  # a week; beyond that the check is pointless
DEFAULT_DEDUPE_WINDOW_S = 86_400  # a day
MAX_DEDUPE_WINDOW_S = 30 * 86_400  # 30 days; the job keeps every event id seen within it in keyed state
_REQUIRED_STR = (
    "name",
    "owner_team",
    "topic",
    "description",
    "key_field",
    "event_id_field",
    "event_time_field",
)
_ALLOWED = frozenset(
    (
        *_REQUIRED_STR,
        "schemas",
        "max_record_bytes",
        "compatibility",
        "max_event_time_skew_ms",
        "dedupe_window_s",
        "rules",
        "pii",
        "read_models",
    )
)


@dataclass(frozen=True, slots=True)
class Contract:
    name: str
    owner_team: str
    topic: str
    description: str
    directory: Path
    schema_texts: tuple[str, ...]
    reader_schema: object
    reader_schema_json: dict[str, Any]
    key_field: str
    event_id_field: str
    event_time_field: str
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    canonical_forms: tuple[str, ...] = ()
    compatibility: Compatibility = Compatibility.BACKWARD
    max_event_time_skew_ms: int = DEFAULT_MAX_EVENT_TIME_SKEW_MS
    dedupe_window_s: int = DEFAULT_DEDUPE_WINDOW_S  # 0: no dedupe
    rules: tuple[Rule, ...] = ()
    pii: Mapping[str, str] = dataclasses.field(default_factory=dict)  # field -> "hash" | "mask" | "drop"
    read_models: tuple[ReadModel, ...] = ()  # udfs.readmodels; names unique across all contracts
    renames: Mapping[str, str] = dataclasses.field(default_factory=dict)  # old field -> reader field (aliases)

    @property
    def subject(self) -> str:
        """The registry subject of the contract's values: Confluent's default TopicNameStrategy."""
        return f"{self.topic}-value"

    def version_of(self, schema_text: str) -> int | None:
        """1-based version whose Parsing Canonical Form equals the text's (latest wins on ties), else None."""
        try:
            canonical = to_parsing_canonical_form(json.loads(schema_text))
        except Exception:
            return None
        for index in range(len(self.canonical_forms), 0, -1):
            if self.canonical_forms[index - 1] == canonical:
                return index
        return None


class Contracts:
    """All contracts of a ``schemas/`` root, looked up by name or topic."""

    __slots__ = ("_by_name", "_by_topic")

    def __init__(self, contracts: tuple[Contract, ...] = ()) -> None:
        self._by_name = {c.name: c for c in contracts}
        self._by_topic = {c.topic: c for c in contracts}
        if len(self._by_name) != len(contracts) or len(self._by_topic) != len(contracts):
            raise ValueError("contract names and topics must be unique")

    def by_name(self, name: str) -> Contract:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no contract named {name!r}; known: {sorted(self._by_name)}") from None

    def by_topic(self, topic: str) -> Contract | None:
        return self._by_topic.get(topic)

    def __iter__(self) -> Iterator[Contract]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"Contracts({sorted(self._by_name)})"


def load_contracts(root: Path) -> Contracts:
    """Load every ``<root>/*/contract.toml``, sorted by directory; names, topics and read-model names must be
    unique."""
    loaded: list[Contract] = []
    names: dict[str, Path] = {}
    topics: dict[str, Path] = {}
    models: dict[str, Path] = {}
    for file in sorted(Path(root).glob(f"*/{CONTRACT_FILE}")):
        contract = load_contract(file.parent)
        for key, value, seen in (("name", contract.name, names), ("topic", contract.topic, topics)):
            if value in seen:
                raise ContractError(
                    file,
                    key,
                    f"{value!r} is already used by {seen[value]}",
                    f"give each contract its own {key}",
                )
            seen[value] = file
        for index, model in enumerate(contract.read_models):
            if model.name in models:
                raise ContractError(
                    file,
                    f"read_models[{index}].name",
                    f"read model {model.name!r} is already declared in {models[model.name]}",
                    "give each read model a name unique across all contracts (it names the model table)",
                )
            models[model.name] = file
        loaded.append(contract)
    return Contracts(tuple(loaded))


def load_contract(directory: Path) -> Contract:
    directory = Path(directory)
    path = directory / CONTRACT_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContractError(path, None, "file not found", f"create {CONTRACT_FILE} (see schemas/README.md)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ContractError(path, None, f"not valid TOML ({exc})", "fix the TOML syntax") from None

    check_keys(raw, _ALLOWED, path=path)
    for key in (*_REQUIRED_STR, "schemas"):
        if key not in raw:
            raise ContractError(path, key, "is required", f"add {key} = ... (see schemas/README.md)")
    for key in _REQUIRED_STR:
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise ContractError(path, key, "must be a non-empty string", f'set {key} = "..."')

    max_bytes = raw.get("max_record_bytes", DEFAULT_MAX_RECORD_BYTES)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or not 5 < max_bytes <= 2**31:
        raise ContractError(
            path,
            "max_record_bytes",
            "must be an integer between 6 and 2147483648",
            "e.g. max_record_bytes = 1048576",
        )

    files = raw["schemas"]
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and f for f in files):
        raise ContractError(path, "schemas", "must be a non-empty list of .avsc file names", 'schemas = ["x.v1.avsc"]')
    texts, parsed_versions, json_versions = _load_schemas(directory, path, files)

    reader_json = json_versions[-1]
    if not isinstance(reader_json, dict) or reader_json.get("type") != "record":
        raise ContractError(
            directory / files[-1],
            "type",
            "the reader schema (last version) must be a record",
            'use "type": "record"',
        )
    fields = {f["name"]: f["type"] for f in reader_json["fields"]}
    renames = field_renames(json_versions)
    try:
        for key in ("key_field", "event_id_field"):
            _require_field(path, key, raw[key], fields, "string", None, files[-1])
        _require_field(path, "event_time_field", raw["event_time_field"], fields, "long", "timestamp-millis", files[-1])
        columns = payload_columns(reader_json, source=directory / files[-1])
        enums = {f["name"]: s for f in reader_json["fields"] if (s := _enum_symbols(f["type"])) is not None}
        rules = parse_rules(raw.get("rules", []), path, columns, enums)
        pii = parse_pii(raw.get("pii", {}), path, columns)
        read_models = parse_read_models(
            raw.get("read_models", []),
            path,
            columns,
            enums,
            pii,
            raw["name"],
            raw["key_field"],
            raw["event_time_field"],
        )
    except ContractError as error:  # a field named by its old name: say what it is called now
        raise with_rename_hint(error, renames) from None
    compatibility = _compatibility(path, raw.get("compatibility", Compatibility.BACKWARD.value))
    skew = _skew(path, raw.get("max_event_time_skew_ms", DEFAULT_MAX_EVENT_TIME_SKEW_MS))
    dedupe_window = _dedupe_window(path, raw.get("dedupe_window_s", DEFAULT_DEDUPE_WINDOW_S))

    return Contract(
        name=raw["name"],
        owner_team=raw["owner_team"],
        topic=raw["topic"],
        description=raw["description"],
        directory=directory,
        schema_texts=tuple(texts),
        reader_schema=parsed_versions[-1],
        reader_schema_json=reader_json,
        key_field=raw["key_field"],
        event_id_field=raw["event_id_field"],
        event_time_field=raw["event_time_field"],
        max_record_bytes=max_bytes,
        canonical_forms=tuple(to_parsing_canonical_form(j) for j in json_versions),
        compatibility=compatibility,
        max_event_time_skew_ms=skew,
        dedupe_window_s=dedupe_window,
        rules=rules,
        pii=pii,
        read_models=read_models,
        renames=renames,
    )


def _enum_symbols(avro: Any) -> list[str] | None:
    for branch in avro if isinstance(avro, list) else [avro]:
        if isinstance(branch, dict) and branch.get("type") == "enum":
            return list(branch["symbols"])
    return None


def _compatibility(path: Path, value: object) -> Compatibility:
    try:
        return Compatibility(str(value)) if isinstance(value, str) else Compatibility("not a string")
    except ValueError:
        choices = ", ".join(m.value for m in Compatibility)
        raise ContractError(path, "compatibility", f"unknown mode {value!r}", f"use one of {choices}") from None


def _skew(path: Path, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_EVENT_TIME_SKEW_MS:
        raise ContractError(
            path,
            "max_event_time_skew_ms",
            f"must be an integer between 0 and {MAX_EVENT_TIME_SKEW_MS} (a week)",
            "e.g. max_event_time_skew_ms = 300000 (5 minutes)",
        )
    return value


def _dedupe_window(path: Path, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DEDUPE_WINDOW_S:
        raise ContractError(
            path,
            "dedupe_window_s",
            f"must be an integer between 0 (no dedupe) and {MAX_DEDUPE_WINDOW_S} (30 days)",
            "e.g. dedupe_window_s = 86400 (a day)",
        )
    return value


def _load_schemas(directory: Path, path: Path, files: list[str]) -> tuple[list[str], list[object], list[Any]]:
    texts: list[str] = []
    parsed: list[object] = []
    loaded: list[Any] = []
    for index, name in enumerate(files):
        field = f"schemas[{index}]"
        file = directory / name
        if Path(name).name != name or not name.endswith(".avsc"):
            raise ContractError(
                path, field, f"{name!r} is not a plain .avsc file name", "list files next to the contract"
            )
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ContractError(path, field, f"{file} does not exist", "add the file or fix the name") from None
        try:
            schema_json = json.loads(text)
        except ValueError as exc:
            raise ContractError(file, field, f"not valid JSON ({exc})", "fix the JSON syntax") from None
        try:
            parsed.append(fastavro.parse_schema(schema_json))
        except Exception as exc:
            raise ContractError(file, field, f"not a valid Avro schema ({exc})", "fix the schema") from None
        texts.append(text)
        loaded.append(schema_json)
    return texts, parsed, loaded


def _require_field(  # noqa: PLR0917
    path: Path, key: str, field: str, fields: dict[str, Any], avro_type: str, logical: str | None, schema: str
) -> None:
    want = avro_type if logical is None else f'{{"type": "{avro_type}", "logicalType": "{logical}"}}'
    fix = f"add field '{field}' of type {want} to {schema} or point {key} at an existing one"
    if field not in fields:
        raise ContractError(path, key, f"field '{field}' is not in the reader schema {schema}", fix)
    declared = fields[field]
    base, declared_logical = (
        (declared.get("type"), declared.get("logicalType")) if isinstance(declared, dict) else (declared, None)
    )
    if base != avro_type or (logical is not None and declared_logical != logical):
        raise ContractError(path, key, f"field '{field}' must be a non-null {want}, not {json.dumps(declared)}", fix)
