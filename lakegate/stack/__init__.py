"""The local stack: a single-node Kafka broker (KRaft) and a schema registry, on loopback only."""
