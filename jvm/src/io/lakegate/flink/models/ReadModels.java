package io.lakegate.flink.models;

import io.lakegate.flink.plan.Plan;

import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;

/**
 * Every read model of a plan, applied one event at a time against its key's state, with the changes held
 * back until {@link #flush}: the logic of the {@code read_models} operator without Flink's runtime (state
 * access and output are passed in), so it runs the same in a job and in a test.
 *
 * <p>State is updated eagerly, per event; a change goes to the pending buffer, where a later change of the
 * same key replaces it (an aggregate's row keeps naming the newest event by order among those it coalesces).
 * A flush builds each pending change's row and JSON (only then, so superseded changes cost nothing more) and
 * hands them to a {@link ChangeSink}. Versions therefore may skip numbers in the output, and the highest
 * version per key is still its current row.
 */
public final class ReadModels {

    /** The current key's state (a Flink {@code ValueState<byte[]>} in the job). */
    public interface KeyedBytes {
        byte[] value() throws Exception;

        void update(byte[] value) throws Exception;
    }

    /** Where flushed changes go: the model table's row and the changelog element. */
    public interface ChangeSink {
        void emit(ModelSpec model, boolean delete, GenericRowData row, byte[] changelogElement) throws Exception;
    }

    private final ModelSpec[] models;
    private final int topicCount;
    private final Watermarks watermarks;
    private final StateCodec codec = new StateCodec();
    private final ChangeOutput output;
    private final LatestPerKey<Object, PendingChange> pending = new LatestPerKey<>();

    public ReadModels(Plan plan) {
        models = new ModelSpec[plan.models().size()];
        for (int i = 0; i < models.length; i++) {
            models[i] = new ModelSpec(plan, i);
        }
        topicCount = plan.topics().size();
        watermarks = new Watermarks(models.length);
        output = new ChangeOutput(plan.topics());
    }

    public int modelCount() {
        return models.length;
    }

    public ModelSpec model(int index) {
        return models[index];
    }

    /**
     * Applies the model event in {@code bytes} to {@code state}, the state of {@code key} (the event's keyed
     * state key, {@link ModelEventKey}); a change it makes replaces {@code key}'s pending one.
     */
    public void apply(byte[] bytes, Object key, KeyedBytes state) throws Exception {
        ModelEvent event = ModelEvent.parse(bytes);
        ModelSpec model = modelOf(event);
        if (model.isCurrent()) {
            applyCurrent(model, event, key, state);
        } else {
            applyAggregate(model, event, key, state);
        }
    }

    private void applyCurrent(ModelSpec model, ModelEvent event, Object key, KeyedBytes state) throws Exception {
        CurrentState before = StateCodec.current(state.value());
        Step<CurrentState> step = CurrentFold.apply(before, event.isDelete(), event.orderValue(), event.partition(),
                event.offset());
        if (step.state() != before) {
            state.update(codec.encode(step.state()));
        }
        if (step.changed()) {
            pending.put(key, new PendingChange(model, event, step.state().version(), null, null));
        }
    }

    private void applyAggregate(ModelSpec model, ModelEvent event, Object key, KeyedBytes state) throws Exception {
        if (event.isDelete()) {
            throw new CorruptModelEvent("a delete event for aggregate '" + model.name() + "' (aggregates upsert)");
        }
        AggregateFold fold = model.fold();
        long watermark = watermarks.advance(model.index(), event.eventTime());
        if (fold.closed(event.windowStart(), watermark)) {
            return; // late: no change, state untouched, nothing decoded
        }
        Object[] body = null;
        Object[] inputs = new Object[model.measureCount()];
        for (int i = 0; i < inputs.length; i++) {
            MeasureSpec measure = model.measure(i);
            if (measure.field() >= 0) {
                if (body == null) {
                    body = PendingChange.decodeBody(model, event);
                }
                inputs[i] = Values.canonical(body[measure.field()]);
            } else if (measure.treated() >= 0) {
                int start = event.treatedStart(measure.treated());
                inputs[i] = start < 0 ? null
                        : StringData.fromBytes(event.bytes(), start, event.treatedLength(measure.treated()));
            }
        }
        AggregateState before = StateCodec.aggregate(state.value(), model.measureCount());
        Step<AggregateState> step = fold.apply(before, event.windowStart(), event.orderValue(), event.partition(),
                event.offset(), inputs, watermark);
        state.update(codec.encode(step.state()));
        PendingChange prior = pending.get(key);
        if (prior != null && newer(prior.event(), event)) {
            // The row names the newest event of the mini-batch, so the table holds every order the state's
            // "latest" measure has seen (a fresh start rebuilds it from the rows, lakegate/model_state.py).
            pending.put(key, new PendingChange(model, prior.event(), step.state().version(), step.state().values(),
                    null));
            return;
        }
        pending.put(key, new PendingChange(model, event, step.state().version(), step.state().values(), body));
    }

    private static boolean newer(ModelEvent a, ModelEvent b) {
        return Orders.compare(a.orderValue(), a.partition(), a.offset(), b.orderValue(), b.partition(),
                b.offset()) > 0;
    }

    private ModelSpec modelOf(ModelEvent event) {
        if (event.modelIndex() >= models.length) {
            throw new CorruptModelEvent("model index " + event.modelIndex() + " out of range (" + models.length
                    + " models)");
        }
        ModelSpec model = models[event.modelIndex()];
        if (event.topicIndex() >= topicCount) {
            throw new CorruptModelEvent("topic index " + event.topicIndex() + " out of range (" + topicCount
                    + " topics)");
        }
        if (event.treatedCount() != model.treatedCount()) {
            throw new CorruptModelEvent("a model event of '" + model.name() + "' carries " + event.treatedCount()
                    + " treated values, the model has " + model.treatedCount());
        }
        return model;
    }

    /** Changes waiting for the next flush (at most one per key). */
    public int pending() {
        return pending.size();
    }

    /** The pending change of {@code key}, or null. */
    public PendingChange pending(Object key) {
        return pending.get(key);
    }

    /** Emits every pending change to {@code sink} and forgets them. */
    public void flush(ChangeSink sink) throws Exception {
        pending.drain(change -> {
            Object[] values = output.values(change);
            byte[] json = output.json(change, values);
            sink.emit(change.model(), change.isDelete(), output.row(change, values),
                    output.changelogElement(change, json));
        });
    }
}
