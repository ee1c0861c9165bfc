package io.lakegate.flink.ingest;

import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.table.data.RowData;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * A quarantine element ({@link QuarantineLayout}) as its dead-letter record: the original key and value
 * bytes unchanged (null stays null), the quarantine facts as headers ({@link DeadLetterHeaders}).
 */
public final class DeadLetterSerializer implements KafkaRecordSerializationSchema<RowData> {

    private static final long serialVersionUID = 1L;

    private final String topic;
    private final int key;
    private final int value;
    private final int headers;

    public DeadLetterSerializer(String topic, QuarantineLayout layout) {
        this.topic = topic;
        this.key = layout.position("original_key");
        this.value = layout.position("original_value");
        this.headers = layout.headersIndex();
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(RowData element, KafkaSinkContext context, Long timestamp) {
        return new ProducerRecord<>(topic, null, null,
                element.isNullAt(key) ? null : element.getBinary(key),
                element.isNullAt(value) ? null : element.getBinary(value),
                DeadLetterHeaders.decode(element.getBinary(headers)));
    }
}
