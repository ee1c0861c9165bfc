package io.lakegate.flink.models;

import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.table.data.RowData;

import java.util.Map;

/**
 * What the read models hand to the sinks: per model name, its table's rows (model table layout, with their
 * {@code InternalTypeInfo}); and one changelog stream for all models, each element a u16 model index, the
 * key text as nullable bytes and the JSON change as nullable bytes (null = tombstone).
 */
public record ReadModelOutputs(Map<String, DataStream<RowData>> tables, DataStream<byte[]> changelog) {}
