package io.lakegate.flink.ingest;

import io.lakegate.flink.plan.Plan;

import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamSink;
import org.apache.flink.table.data.RowData;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.flink.CatalogLoader;
import org.apache.iceberg.flink.TableLoader;
import org.apache.iceberg.flink.sink.IcebergSink;

import java.util.HashMap;
import java.util.Properties;

/**
 * The ingest job's two kinds of exactly-once sink, both committing on Flink's checkpoints.
 *
 * <ul>
 *   <li>Iceberg tables through Iceberg's Sink V2 ({@link IcebergSink}; the V1 FlinkSink leaves orphan files
 *       at parallelism 2, bench/README.md): data files written per checkpoint, committed once the
 *       checkpoint completes, each commit tagged with its checkpoint so a restore never commits twice.</li>
 *   <li>Kafka topics through {@link KafkaSink} with {@link DeliveryGuarantee#EXACTLY_ONCE}: one
 *       transaction per checkpoint, committed when it completes (readers use read_committed).</li>
 * </ul>
 */
final class Sinks {

    private Sinks() {}

    /** Appends {@code rows} (in {@code table}'s column order) to the Iceberg table; {@code uid} names its operators. */
    static DataStreamSink<RowData> iceberg(DataStream<RowData> rows, Plan.Catalog catalog, String table, String uid) {
        CatalogLoader loader = CatalogLoader.custom(catalog.name(), new HashMap<>(catalog.properties()),
                new org.apache.hadoop.conf.Configuration(), catalog.impl());
        return IcebergSink.forRowData(rows)
                .tableLoader(TableLoader.fromCatalog(loader, TableIdentifier.parse(table)))
                .uidSuffix(uid)
                .append();
    }

    /**
     * A transactional Kafka sink with the plan's client properties; its transactional ids start with the
     * plan's {@code transactional_id_prefix} and {@code "-" + suffix}, unique per sink of the job.
     */
    static <T> KafkaSink<T> kafka(Plan.Kafka kafka, String suffix, KafkaRecordSerializationSchema<T> serializer) {
        Properties properties = new Properties();
        properties.putAll(kafka.properties());
        // Must not exceed the broker's transaction.max.timeout.ms; the plan's value is below its default.
        properties.setProperty("transaction.timeout.ms", Long.toString(kafka.transactionTimeoutMs()));
        return KafkaSink.<T>builder()
                .setKafkaProducerConfig(properties)
                .setRecordSerializer(serializer)
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(kafka.transactionalIdPrefix() + "-" + suffix)
                .build();
    }
}
