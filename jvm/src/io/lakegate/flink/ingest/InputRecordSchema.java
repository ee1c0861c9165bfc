package io.lakegate.flink.ingest;

import io.lakegate.flink.wire.ByteWriter;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns each Kafka record into its input-batch encoding (docs/hotpath.md, "Input batch": u16 topic index,
 * i32 partition, i64 offset, i64 timestamp, nullable key, nullable value), which {@link PackOperator} appends
 * to the open batch. The key and value bytes stay as they were produced: decoding is the route's business.
 */
public final class InputRecordSchema implements KafkaRecordDeserializationSchema<byte[]> {

    private static final long serialVersionUID = 1L;

    private final List<String> topics;
    private transient Map<String, Integer> index;
    private transient ByteWriter writer;

    /** @param topics the plan's topics: a record's topic index is its topic's position here */
    public InputRecordSchema(List<String> topics) {
        this.topics = List.copyOf(topics);
        if (topics.size() > 0xffff) {
            throw new IllegalArgumentException(topics.size() + " topics; the batch format numbers at most 65535");
        }
    }

    @Override
    public void open(DeserializationSchema.InitializationContext context) {
        index = new HashMap<>();
        for (int i = 0; i < topics.size(); i++) {
            index.put(topics.get(i), i);
        }
        writer = new ByteWriter(1024);
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<byte[]> out) {
        Integer topic = index.get(record.topic());
        if (topic == null) {
            throw new IllegalStateException("a record from topic " + record.topic() + ", which is not among the"
                    + " plan's topics " + topics + ": the source subscribes to exactly those");
        }
        writer.reset();
        writer.u16(topic);
        writer.i32(record.partition());
        writer.i64(record.offset());
        writer.i64(record.timestamp());
        writer.nullableBytes(record.key());
        writer.nullableBytes(record.value());
        out.collect(writer.toByteArray());
    }

    @Override
    public TypeInformation<byte[]> getProducedType() {
        return PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;
    }
}
