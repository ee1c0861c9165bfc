"""Pure-Python record path of lakegate, executed inside Flink Python workers.

Everything a record goes through between the Kafka source and the sinks lives here: the Confluent wire
frame (:mod:`udfs.wire`), writer-schema lookup (:mod:`udfs.registry`), team contracts
(:mod:`udfs.contract`), Avro decoding with precise failure classification (:mod:`udfs.decode`), routing
to the audit log or quarantine (:mod:`udfs.router`), the audit-table row (:mod:`udfs.audit`, typed by
:mod:`udfs.columns`) and the read models' declarations, events and folds (:mod:`udfs.readmodels`).

The package depends only on the standard library and fastavro and never imports pyflink, so it is unit
tested without a JVM and the Flink jobs stay thin adapters around it.
"""
