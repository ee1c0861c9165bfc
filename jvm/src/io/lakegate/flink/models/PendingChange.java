package io.lakegate.flink.models;

import io.lakegate.flink.wire.ReaderBody;

/**
 * A change made by one event and not yet emitted: the model, the event (its bytes, undecoded for a current
 * model until the change is emitted), the key's version after it, and for an aggregate the measure values
 * after it. Holding this much and no more lets a later change of the same key replace it for nothing.
 */
public final class PendingChange {

    private final ModelSpec model;
    private final ModelEvent event;
    private final long version;
    private final Object[] measureValues;
    private Object[] body;

    /**
     * @param measureValues an aggregate's values after the event (kept, not copied: states are never modified);
     *                      null for a current model
     * @param body          the event's decoded body if already decoded, else null (decoded on first use)
     */
    public PendingChange(ModelSpec model, ModelEvent event, long version, Object[] measureValues, Object[] body) {
        this.model = model;
        this.event = event;
        this.version = version;
        this.measureValues = measureValues;
        this.body = body;
    }

    public ModelSpec model() {
        return model;
    }

    public ModelEvent event() {
        return event;
    }

    public long version() {
        return version;
    }

    public boolean isDelete() {
        return event.isDelete();
    }

    public Object measureValue(int measure) {
        return measureValues[measure];
    }

    /** The event's reader-schema body as {@link ReaderBody#decode} gives it, decoded once. */
    public Object[] body() {
        if (body == null) {
            body = decodeBody(model, event);
        }
        return body;
    }

    /** Decodes {@code event}'s body with {@code model}'s contract layout. */
    static Object[] decodeBody(ModelSpec model, ModelEvent event) {
        if (!event.hasBody()) {
            throw new CorruptModelEvent("a model event of '" + model.name() + "' has no body, and the model reads"
                    + " fields from it");
        }
        try {
            return model.body().decode(event.bytes(), event.bodyStart(), event.bodyLength());
        } catch (ReaderBody.CorruptBody e) {
            throw new CorruptModelEvent("the body of a model event of '" + model.name() + "' does not decode: "
                    + e.getMessage(), e);
        }
    }
}
