"""Fixtures for the udfs unit tests: the real contracts, an in-memory registry and a wire encoder."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from udfs.contract import Contract, Contracts, load_contracts
from udfs.registry import InMemorySchemas
from udfs.wire import frame

from .support import SCHEMAS, avro_body


@pytest.fixture(scope="session")
def contracts() -> Contracts:
    return load_contracts(SCHEMAS)


@pytest.fixture
def schemas(contracts: Contracts) -> InMemorySchemas:
    source = InMemorySchemas()
    for contract in contracts:
        source.add(contract.schema_texts[-1])
    return source


@pytest.fixture
def encode(schemas: InMemorySchemas) -> Callable[[Contract, dict[str, object]], bytes]:
    """Wire-format value of a record written with the contract's latest schema."""

    def _encode(contract: Contract, record: dict[str, object]) -> bytes:
        schema_id = schemas.add(contract.schema_texts[-1])
        return frame(schema_id, avro_body(json.loads(contract.schema_texts[-1]), record))

    return _encode
