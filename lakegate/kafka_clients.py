"""Kafka client configuration for every client lakegate creates, from one place in the settings.

* :func:`java_properties`: the Kafka properties of the ingest job's Java clients (its source, the dead-letter
  and changelog sinks), carried in the plan's ``kafka.properties`` (jobs/plan.py).
* :func:`python_config`: the keyword arguments of the Python clients (kafka-python: the admin client, the
  event producer, the offset readers, the exporter).

Invariant: the SASL password never enters the Java properties, which travel in the job graph; the JAAS line
names ``${lakegate_env:LAKEGATE_KAFKA_SASL_PASSWORD}``, resolved inside each client from its JVM's
environment by Kafka's ``EnvVarConfigProvider``. See docs/security.md#secrets.
"""

from __future__ import annotations

from typing import Any

from lakegate.settings import ENV_PREFIX, Settings

PASSWORD_ENV = f"{ENV_PREFIX}KAFKA_SASL_PASSWORD"
_PROVIDER = "lakegate_env"
_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def java_properties(settings: Settings) -> dict[str, str]:
    """Kafka client properties (without ``bootstrap.servers``) for the job's Java clients."""
    protocol = settings.kafka.security_protocol
    props: dict[str, str] = {"security.protocol": protocol}
    if protocol.startswith("SASL_"):
        module = _LOGIN_MODULES[settings.kafka.sasl_mechanism]
        props.update(
            {
                "sasl.mechanism": settings.kafka.sasl_mechanism,
                # The user name is validated to need no quoting (KafkaSettings.rules); the password is a reference.
                "sasl.jaas.config": f'{module} required username="{settings.kafka.sasl_username}" '
                f'password="${{{_PROVIDER}:{PASSWORD_ENV}}}";',
                "config.providers": _PROVIDER,
                f"config.providers.{_PROVIDER}.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
                # This provider may read this one variable and nothing else of the environment.
                f"config.providers.{_PROVIDER}.param.allowlist.pattern": f"^{PASSWORD_ENV}$",
            }
        )
    if protocol.endswith("SSL") and settings.kafka.ssl_cafile is not None:
        props.update({"ssl.truststore.type": "PEM", "ssl.truststore.location": str(settings.kafka.ssl_cafile)})
    return props


def python_config(settings: Settings) -> dict[str, Any]:
    """kafka-python keyword arguments: the bootstrap servers and the security settings."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka.bootstrap,
        "security_protocol": settings.kafka.security_protocol,
    }
    if settings.kafka.security_protocol.startswith("SASL_"):
        config.update(
            {
                "sasl_mechanism": settings.kafka.sasl_mechanism,
                "sasl_plain_username": settings.kafka.sasl_username,
                "sasl_plain_password": settings.kafka.sasl_password.reveal(),
            }
        )
    if settings.kafka.security_protocol.endswith("SSL"):
        config["ssl_check_hostname"] = True
        if settings.kafka.ssl_cafile is not None:
            config["ssl_cafile"] = str(settings.kafka.ssl_cafile)
    return config
