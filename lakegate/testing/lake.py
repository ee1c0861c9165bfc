"""A lake of a test's own on the session's broker, registry and catalog (test kit).

:func:`own_lake` copies the contracts and prefixes each contract's topic with the test's name, and names
the tables, dead-letter topic, changelog topics and consumer group after it too. Job tests on one stack
then never read each other's records: what a test produces is all its job reads, however many tests ran
before it (a job on a fresh lake reads its topics from the start).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from lakegate.kafka_admin import ensure_topics
from lakegate.settings import Settings
from udfs.contract import Contracts, load_contracts

# A contract's topic line (schemas/README.md): the key at the start of a line, a basic string value.
_TOPIC_LINE = re.compile(r'^topic\s*=\s*"([^"\\]+)"[ \t]*$', re.MULTILINE)
# A name that is a valid Iceberg namespace, Kafka topic prefix and consumer group at once.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def own_lake(stack: Settings, folder: Path, name: str, **changes: Any) -> tuple[Settings, Contracts]:
    """``stack``'s settings and contracts for a lake named ``name``: contracts copied to ``folder/schemas``
    with topics ``<name>.<topic>`` (created), tables in namespaces ``name``, ``name_q`` and
    ``name_models``, dead-letter topic ``<name>.dlq``, changelog topics ``<name>.changelog.<model>`` and
    consumer group ``name`` (underscores as dashes); ``changes`` are further settings (and win)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"lake name {name!r}: lower-case letters, digits and '_', starting with a letter")
    schemas = folder / "schemas"
    shutil.copytree(stack.paths.schemas_dir, schemas)
    for path in sorted(schemas.glob("*/contract.toml")):
        text, found = _TOPIC_LINE.subn(lambda m: f'topic = "{name}.{m.group(1)}"', path.read_text())
        if found != 1:
            raise ValueError(f"{path}: {found} topic lines where one 'topic = \"...\"' line was expected")
        path.write_text(text)
    named = {
        "audit_namespace": name,
        "quarantine_namespace": f"{name}_q",
        "readmodel_namespace": f"{name}_models",
        "dlq_topic": f"{name}.dlq",
        "changelog_topic_prefix": f"{name}.changelog.",
        "consumer_group": name.replace("_", "-"),
    }
    settings = stack.replace(schemas_dir=schemas, **{**named, **changes})
    contracts = load_contracts(schemas)
    ensure_topics(settings, [c.topic for c in contracts] + [settings.kafka.dlq_topic])
    return settings, contracts
