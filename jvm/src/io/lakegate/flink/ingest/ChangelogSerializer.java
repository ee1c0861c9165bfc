package io.lakegate.flink.ingest;

import io.lakegate.flink.plan.Plan;
import io.lakegate.flink.wire.ByteReader;

import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

import java.util.List;

/**
 * A read-model change ({@code ReadModelGraph}'s changelog: u16 model index, nullable bytes key, nullable bytes
 * value) as a record of that model's compacted changelog topic; a null value is a tombstone (a delete).
 */
public final class ChangelogSerializer implements KafkaRecordSerializationSchema<byte[]> {

    private static final long serialVersionUID = 1L;

    private final List<String> topics;

    public ChangelogSerializer(List<Plan.Model> models) {
        this.topics = models.stream().map(Plan.Model::changelogTopic).toList();
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(byte[] change, KafkaSinkContext context, Long timestamp) {
        ByteReader in = new ByteReader(change);
        try {
            int model = in.u16();
            if (model >= topics.size()) {
                throw new IllegalArgumentException("model index " + model + ", the plan has " + topics.size());
            }
            byte[] key = in.nullableBytes();
            byte[] value = in.nullableBytes();
            if (!in.atEnd()) {
                throw new IllegalArgumentException(in.remaining() + " bytes left after the value");
            }
            return new ProducerRecord<>(topics.get(model), null, null, key, value);
        } catch (IllegalArgumentException e) {
            throw new MalformedBatchException("changelog record of " + change.length + " bytes: " + e.getMessage(), e);
        }
    }
}
