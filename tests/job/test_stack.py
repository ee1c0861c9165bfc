"""The local stack's own guarantees (a private registry instance, not the session's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakegate.settings import Settings
from lakegate.stack import registry
from lakegate.testing.ports import free_port

pytestmark = pytest.mark.job


def test_registry_keeps_its_schemas_across_a_restart(lakegate_settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    settings = lakegate_settings.replace(
        home=tmp_path / "home", registry_url=f"http://127.0.0.1:{port}/apis/ccompat/v7"
    )
    text = '{"type": "record", "name": "Kept", "fields": [{"name": "a", "type": "string"}]}'
    registry.start(settings)
    try:
        schema_id = settings.registry_client().register("kept-value", text)
        registry.stop(settings)
        registry.start(settings)
        assert settings.registry_client().writer_schema(schema_id).text == text
        assert "kept-value" in settings.registry_client().subjects()
    finally:
        registry.stop(settings)
