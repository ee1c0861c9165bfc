package io.lakegate.flink.models;

import io.lakegate.flink.metrics.LabelledCounters;

import org.apache.flink.metrics.Counter;

/**
 * The emitted-changes counters, per model and op: {@code changes} under the labels {@code model} and
 * {@code op}, as lakegate/observe/catalogue.py names them ({@code READ_MODEL_CHANGES}, {@code
 * lakegate_model_op_changes}). Resolved once per model and op, then an increment per change.
 */
public final class ChangeCounters {

    private final LabelledCounters counters;
    private final String[] names;
    private final Counter[] upserts;
    private final Counter[] deletes;

    public ChangeCounters(LabelledCounters counters, String[] modelNames) {
        this.counters = counters;
        this.names = modelNames.clone();
        this.upserts = new Counter[names.length];
        this.deletes = new Counter[names.length];
    }

    /** Counts one emitted change of model {@code model}. */
    public void count(int model, boolean delete) {
        Counter[] byModel = delete ? deletes : upserts;
        Counter counter = byModel[model];
        if (counter == null) {
            counter = counters.counter("changes", "model", names[model], "op", delete ? "delete" : "upsert");
            byModel[model] = counter;
        }
        counter.inc();
    }
}
