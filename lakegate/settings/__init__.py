"""lakegate's settings: one frozen, validated :class:`Settings` per process, made of sections.

* :mod:`lakegate.settings.core`: :class:`Settings` (layering, the rules spanning sections, export).
* :mod:`lakegate.settings.sections`: the sections (``paths``, ``kafka``, ``registry``, ``catalog``,
  ``readmodels``, ``job``, ``cluster``, ``observation``), each field with its flat key.
* :mod:`lakegate.settings.load`: flat keys <-> section fields, the sources, type conversion.
* :mod:`lakegate.settings.secrets`: :class:`Secret` and :class:`SecretUrl`, masked wherever shown.
* :mod:`lakegate.settings.base`: the field declaration and the checks every section shares.

Code reads ``settings.<section>.<field>``; users, files, the environment and ``Settings.load``/``replace``
keywords use the flat keys (``kafka_bootstrap``), which docs/settings.md lists.
"""

from lakegate.settings.base import port_range
from lakegate.settings.core import Settings
from lakegate.settings.load import ENV_PREFIX, SETTINGS_FILE_ENV
from lakegate.settings.secrets import Secret, SecretUrl
from lakegate.settings.sections import (
    LOCAL_PII_SALT,
    CatalogSettings,
    ClusterSettings,
    ExecutionTarget,
    JobSettings,
    KafkaSettings,
    ObjectStoreSettings,
    ObservationSettings,
    PathSettings,
    PythonExecutionMode,
    ReadModelSettings,
    RegistrySettings,
    SaslMechanism,
    SecurityProtocol,
    StartFrom,
    StateBackend,
)

__all__ = [
    "ENV_PREFIX",
    "LOCAL_PII_SALT",
    "SETTINGS_FILE_ENV",
    "CatalogSettings",
    "ClusterSettings",
    "ExecutionTarget",
    "JobSettings",
    "KafkaSettings",
    "ObjectStoreSettings",
    "ObservationSettings",
    "PathSettings",
    "PythonExecutionMode",
    "ReadModelSettings",
    "RegistrySettings",
    "SaslMechanism",
    "Secret",
    "SecretUrl",
    "SecurityProtocol",
    "Settings",
    "StartFrom",
    "StateBackend",
    "port_range",
]
