package io.lakegate.flink.ingest;

import io.lakegate.flink.plan.Plan;

import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.kafka.common.TopicPartition;

import java.util.HashMap;
import java.util.Map;
import java.util.Properties;

/**
 * The ingest job's one Kafka source: every topic of the plan, raw key and value bytes with their
 * coordinates ({@link InputRecordSchema}), reading committed transactions only.
 *
 * <p>Client properties are the plan's ({@code bootstrap.servers} and the security ones, lakegate/kafka_clients.py)
 * as they are: a SASL password there is a {@code ${lakegate_env:...}} reference that Kafka's
 * {@code EnvVarConfigProvider} resolves inside each client, from the environment of the JVM it runs in.
 * Where reading starts ({@code kafka.startup}): {@code earliest}; {@code group-offsets} (the consumer group's
 * committed offsets, the earliest where it has none); {@code specific} (the plan's {@code start_offsets},
 * from the lake, {@link StartOffsets}; a partition not listed starts at its earliest offset). {@code bounded}
 * stops at the offsets current at start.
 */
public final class IngestSource {

    private IngestSource() {}

    public static KafkaSource<byte[]> of(Plan plan) {
        Plan.Kafka kafka = plan.kafka();
        Properties properties = new Properties();
        properties.putAll(kafka.properties());
        properties.setProperty("group.id", kafka.groupId());
        properties.setProperty("isolation.level", "read_committed");
        // An offset no longer in the topic (retention) falls back to the earliest one still there.
        properties.setProperty("auto.offset.reset", "earliest");
        KafkaSourceBuilder<byte[]> builder = KafkaSource.<byte[]>builder()
                .setProperties(properties)
                .setGroupId(kafka.groupId())
                .setTopics(plan.topics())
                .setDeserializer(new InputRecordSchema(plan.topics()))
                .setStartingOffsets(startingOffsets(plan));
        if (kafka.bounded()) {
            builder.setBounded(OffsetsInitializer.latest());
        }
        return builder.build();
    }

    /** Where each partition starts, from {@code kafka.startup}; IllegalArgumentException for an unknown mode. */
    @SuppressWarnings("deprecation") // the connector takes no other reset strategy type yet
    static OffsetsInitializer startingOffsets(Plan plan) {
        Plan.Kafka kafka = plan.kafka();
        switch (kafka.startup()) {
            case "earliest":
                return OffsetsInitializer.earliest();
            case "group-offsets":
                return OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
            case "specific": {
                Map<TopicPartition, Long> offsets = new HashMap<>();
                for (Plan.StartOffset start : kafka.startOffsets()) {
                    if (!plan.topics().contains(start.topic())) {
                        throw new IllegalArgumentException("plan.kafka.start_offsets names topic " + start.topic()
                                + ", which is not among plan.topics " + plan.topics());
                    }
                    offsets.put(new TopicPartition(start.topic(), start.partition()), start.offset());
                }
                return new StartOffsets(offsets);
            }
            default:
                throw new IllegalArgumentException("plan.kafka.startup is '" + kafka.startup()
                        + "', not one of earliest, group-offsets, specific");
        }
    }
}
