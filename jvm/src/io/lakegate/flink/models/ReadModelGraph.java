package io.lakegate.flink.models;

import io.lakegate.flink.plan.Plan;

import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.table.data.RowData;

import java.util.Map;

/**
 * STUB, to be replaced by the read-model operators (branch hp-java-models), which own this class: it only
 * fixes the signature {@code io.lakegate.flink.ingest.IngestGraph} calls. With no models it returns empty
 * outputs; with models it refuses, so a job never runs without the read models it was planned with.
 */
public final class ReadModelGraph {

    private ReadModelGraph() {}

    /** The read models' outputs: rows per model table (by model name) and changelog records. */
    public record Outputs(Map<String, DataStream<RowData>> tables, DataStream<byte[]> changelog) {

        public Outputs {
            tables = Map.copyOf(tables);
        }
    }

    /**
     * Attaches the read models to {@code modelEvents} (docs/hotpath.md, "Model event"). The changelog's
     * elements: u16 model index, nullable bytes key, nullable bytes value (null: a tombstone); null here
     * when the plan has no models.
     */
    public static Outputs attach(DataStream<byte[]> modelEvents, Plan plan) {
        if (!plan.models().isEmpty()) {
            throw new UnsupportedOperationException("this jar carries a stub of the read models; the plan has "
                    + plan.models().size() + " of them: build from a checkout with io.lakegate.flink.models");
        }
        return new Outputs(Map.of(), null);
    }
}
