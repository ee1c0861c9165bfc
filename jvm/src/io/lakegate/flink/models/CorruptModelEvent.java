package io.lakegate.flink.models;

/**
 * A model event's bytes do not follow docs/hotpath.md ("Model event") or the plan (a model or topic index out
 * of range, an unknown op, a body that does not decode). They come from lakegate's own writers, so this is a
 * bug: it fails the task rather than dropping or guessing a change.
 */
public final class CorruptModelEvent extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public CorruptModelEvent(String message) {
        super(message);
    }

    public CorruptModelEvent(String message, Throwable cause) {
        super(message, cause);
    }
}
