"""One settings object per process: defaults < settings file (TOML) < ``LAKEGATE_*`` environment < overrides.

:class:`Settings` holds the sections of :mod:`lakegate.settings.sections` (``settings.kafka.bootstrap``,
``settings.job.name``, ...). Built and validated once (:meth:`Settings.load`), frozen afterwards: each section
checks itself, the rules spanning sections are here. Keys are flat outside (:mod:`lakegate.settings.load`)
and unknown ones are rejected wherever they come from, so a typo fails loudly instead of silently using a
default. Settings travel to job processes as environment variables (:meth:`Settings.to_env`), never as
command-line arguments, because arguments are visible to every user of the machine and may carry
credentials; into Flink functions only without their secrets (:meth:`Settings.without_secrets`).

Invariant: a loaded or replaced Settings is valid; every secret in it is a Secret field, found by type.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakegate.errors import SettingsError
from lakegate.settings.base import Section, is_port_range, port_range
from lakegate.settings.load import check_keys, convert, env_name, env_value, index, read_sources
from lakegate.settings.secrets import Secret
from lakegate.settings.sections import (
    LOCAL_PII_SALT,
    SECTIONS,
    CatalogSettings,
    ClusterSettings,
    JobSettings,
    KafkaSettings,
    ObjectStoreSettings,
    ObservationSettings,
    PathSettings,
    ReadModelSettings,
    RegistrySettings,
)
from udfs.registry import RegistryClient

_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True, slots=True)
class Settings:
    # One field per section, named as the section's title, in the order of SECTIONS.
    paths: PathSettings = field(default_factory=PathSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    catalog: CatalogSettings = field(default_factory=CatalogSettings)
    objectstore: ObjectStoreSettings = field(default_factory=ObjectStoreSettings)
    readmodels: ReadModelSettings = field(default_factory=ReadModelSettings)
    job: JobSettings = field(default_factory=JobSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    observation: ObservationSettings = field(default_factory=ObservationSettings)

    # ---- construction --------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        file: Path | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Layer the sources, reject unknown keys, convert types, validate once. ``overrides`` and the
        keys of the file and the environment are flat keys (``kafka_bootstrap``)."""
        raw = read_sources(file, os.environ if env is None else env, overrides)
        settings = cls()._changed({key: convert(key, value) for key, value in raw.items()})
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        """A validated copy with some settings changed, by flat key (for tests and the demo)."""
        check_keys(changes)
        copy = self._changed({key: None if v is None else convert(key, v) for key, v in changes.items()})
        copy.validate()
        return copy

    def _changed(self, values: Mapping[str, Any]) -> Settings:
        """A copy with these converted values (by flat key), not validated."""
        by_section: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            where = index()[key]
            by_section.setdefault(where.section, {})[where.attr] = value
        sections = {name: dataclasses.replace(getattr(self, name), **attrs) for name, attrs in by_section.items()}
        return dataclasses.replace(self, **sections)

    @classmethod
    def flat_keys(cls) -> tuple[str, ...]:
        """Every setting's flat key, section by section."""
        return tuple(index())

    def sections(self) -> tuple[Section, ...]:
        return tuple(getattr(self, cls.title) for cls in SECTIONS)

    def flat(self) -> dict[str, Any]:
        """Every value by its flat key (secrets as :class:`Secret`, masked when printed)."""
        return {key: getattr(getattr(self, where.section), where.attr) for key, where in index().items()}

    # ---- validation ----------------------------------------------------------------------------
    def validate(self) -> None:
        problems = [problem for section in self.sections() for problem in section.problems()]
        problems.extend(self._cross_section_problems())
        if problems:
            raise SettingsError("invalid settings:\n  - " + "\n  - ".join(problems))

    def _cross_section_problems(self) -> list[str]:
        problems = []
        if self.job.pii_salt.reveal() == LOCAL_PII_SALT and not self.kafka.hosts <= set(_LOOPBACK):
            problems.append(
                "pii_salt is the local-stack default but Kafka is not on loopback: set LAKEGATE_PII_SALT "
                "(or pii_salt in the settings file) to a random secret of at least 16 bytes"
            )
        # Several TaskManagers of the local cluster share the machine with its JobManager: a port each.
        metrics_port, taskmanagers = self.observation.metrics_port, self.cluster.taskmanagers
        if taskmanagers > 1 and is_port_range(metrics_port) and len(port_range(metrics_port)) <= taskmanagers:
            problems.append(
                f"metrics_port {metrics_port!r} has too few ports for a JobManager and "
                f"{taskmanagers} TaskManagers: give a range with at least {taskmanagers + 1}"
            )
        return problems

    # ---- export --------------------------------------------------------------------------------
    def registry_client(self) -> RegistryClient:
        """The schema-registry client every process of lakegate uses, configured from these settings."""
        registry = self.registry
        return RegistryClient(
            registry.url.reveal(),
            timeout_s=float(registry.timeout_s),
            retries=registry.retries,
            ca_file=str(registry.ca_file) if registry.ca_file else None,
        )

    def to_env(self) -> dict[str, str]:
        """The settings as ``LAKEGATE_*`` variables, for a child process (job runner, tests)."""
        texts = {env_name(key): env_value(value) for key, value in self.flat().items()}
        return {name: text for name, text in texts.items() if text is not None}

    def child_env(self) -> dict[str, str]:
        """This process's environment with these settings in place of any inherited ``LAKEGATE_*``, for a
        job started as a child process (settings never travel on its command line)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(env_name(""))}
        env.update(self.to_env())
        return env

    def without_secrets(self) -> Settings:
        """A copy for pickling into Flink functions (job graphs are stored, shipped and kept in savepoints):
        every secret stripped (the PII salt, the Kafka password, the registry URL's credentials). Workers put
        them back from their own settings sources with :meth:`with_worker_secrets`."""
        return self._with_secrets(lambda secret, _key: secret.stripped())

    def with_worker_secrets(self) -> Settings:
        """In a Flink worker (``open()``): this secret-free copy with the secrets of the worker's own settings
        (its ``LAKEGATE_*`` environment or settings file). The registry credentials are taken only for the
        same registry the job was built for."""
        own = Settings.load().flat()
        return self._with_secrets(lambda secret, key: secret.restored_from(own[key]))

    def _with_secrets(self, change: Callable[[Secret, str], Secret]) -> Settings:
        values = self.flat()
        return self._changed({k: change(v, k) for k, v in values.items() if isinstance(v, Secret)})

    def masked(self) -> dict[str, str]:
        """For printing and logging, by flat key: secrets masked (``***``, ``https://***@host/...``)."""
        return {key: str(value) for key, value in self.flat().items()}

    def masked_sections(self) -> dict[str, dict[str, str]]:
        """:meth:`masked`, grouped by section (what `lakegate settings` prints)."""
        shown = self.masked()
        grouped: dict[str, dict[str, str]] = {}
        for key, where in index().items():
            grouped.setdefault(where.section, {})[key] = shown[key]
        return grouped
