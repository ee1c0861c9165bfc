"""lakegate's settings: one frozen, validated :class:`Settings` per process (see :mod:`lakegate.settings.core`)."""

from lakegate.settings.core import ENV_PREFIX, LOCAL_PII_SALT, SETTINGS_FILE_ENV, Settings, port_range

__all__ = ["ENV_PREFIX", "LOCAL_PII_SALT", "SETTINGS_FILE_ENV", "Settings", "port_range"]
