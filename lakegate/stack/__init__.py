"""The local stack: a single-node Kafka broker (KRaft) and a schema registry, on loopback only, and the
optional services ``lakegate stack up --with`` names."""

# Light on purpose (the CLI reads it without loading a service module): the names `--with` accepts.
OPTIONAL_SERVICES = ("rest-catalog", "object-store")
