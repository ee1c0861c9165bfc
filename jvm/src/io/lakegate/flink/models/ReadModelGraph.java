package io.lakegate.flink.models;

import io.lakegate.flink.plan.Plan;

import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.table.data.RowData;
import org.apache.flink.util.OutputTag;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Wires the read models into the ingest job: model events → keyBy → {@code read_models} → rows + changelog. */
public final class ReadModelGraph {

    public static final String NAME = "read_models";
    public static final String UID = "read-models";

    private ReadModelGraph() {}

    /** modelEvents: the "Model event" byte strings of docs/hotpath.md, from dedupe (only records that passed
     * dedupe). */
    public static ReadModelOutputs attach(DataStream<byte[]> modelEvents, Plan plan) {
        List<OutputTag<RowData>> tags = new ArrayList<>();
        for (Plan.Model model : plan.models()) {
            tags.add(new OutputTag<>("read-model-" + model.name(), ModelRowTypes.typeInfo(model)));
        }
        SingleOutputStreamOperator<byte[]> changes = modelEvents
                .keyBy(new ModelEventKey(plan), Types.STRING)
                .transform(NAME, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO,
                        new ReadModelOperator(plan, tags))
                .name(NAME)
                .uid(UID);
        Map<String, DataStream<RowData>> tables = new LinkedHashMap<>();
        for (int i = 0; i < tags.size(); i++) {
            tables.put(plan.models().get(i).name(), changes.getSideOutput(tags.get(i)));
        }
        return new ReadModelOutputs(Collections.unmodifiableMap(tables), changes);
    }
}
