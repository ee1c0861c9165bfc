package io.lakegate.flink.models;

import io.lakegate.flink.plan.Plan;

import org.apache.flink.api.java.functions.KeySelector;

/**
 * The key of a model event: {@code model name + "\u0000" + key text} (docs/hotpath.md, "Model event"). It is
 * also the key of the event's state, so it names the model rather than giving its index: an index moves when
 * the plan gains a model before it, and state restored under a moved index would belong to another model.
 */
public final class ModelEventKey implements KeySelector<byte[], String> {

    private static final long serialVersionUID = 1L;

    private final String[] prefixes;

    public ModelEventKey(Plan plan) {
        prefixes = plan.models().stream().map(m -> m.name() + '\u0000').toArray(String[]::new);
    }

    @Override
    public String getKey(byte[] event) {
        int model = ModelEvent.modelIndex(event);
        if (model >= prefixes.length) {
            throw new CorruptModelEvent("model index " + model + " out of range (" + prefixes.length + " models)");
        }
        return prefixes[model].concat(ModelEvent.keyText(event));
    }
}
