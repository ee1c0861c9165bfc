package io.lakegate.flink.ingest;

import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.kafka.common.TopicPartition;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Start offsets for {@code kafka.startup = "specific"} (docs/hotpath.md, "The plan"): each listed partition
 * at its offset (the lake's next one, lakegate/offsets.py), every other partition at its earliest offset.
 * Unlike the connector's own specific-offsets initializer, a partition not listed never starts at the consumer
 * group's committed offset: the lake, not the group, says what has been processed. An offset no longer in
 * the topic (retention) falls back to the earliest one still there.
 */
public final class StartOffsets implements OffsetsInitializer {

    private static final long serialVersionUID = 1L;

    private final Map<TopicPartition, Long> offsets;

    public StartOffsets(Map<TopicPartition, Long> offsets) {
        this.offsets = new HashMap<>(offsets);
    }

    @Override
    public Map<TopicPartition, Long> getPartitionOffsets(
            Collection<TopicPartition> partitions, PartitionOffsetsRetriever retriever) {
        Map<TopicPartition, Long> start = new HashMap<>();
        List<TopicPartition> others = new ArrayList<>();
        for (TopicPartition partition : partitions) {
            Long offset = offsets.get(partition);
            if (offset != null) {
                start.put(partition, offset);
            } else {
                others.add(partition);
            }
        }
        if (!others.isEmpty()) {
            start.putAll(retriever.beginningOffsets(others));
        }
        return start;
    }

    @Override
    @SuppressWarnings("deprecation") // the connector's interface still names this type
    public OffsetResetStrategy getAutoOffsetResetStrategy() {
        return OffsetResetStrategy.EARLIEST;
    }
}
