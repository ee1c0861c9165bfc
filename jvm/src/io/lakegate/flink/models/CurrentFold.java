package io.lakegate.flink.models;

/**
 * The ordering rule of a current model (udfs.readmodels.apply_current): an event wins iff its order tuple is
 * greater than the key's, and every winning event is a change: a delete of a key without state (the state may
 * be younger than the key) and a newer delete of a deleted key too, so the table's latest row per key always
 * holds the state's order tuple (a fresh start rebuilds the state from it, lakegate/model_state.py); versions
 * continue across tombstones, so the highest version per key is its current row.
 */
public final class CurrentFold {

    private CurrentFold() {}

    /** Applies an event (delete or upsert, with its order tuple) to {@code state} (null: the key has none). */
    public static Step<CurrentState> apply(CurrentState state, boolean delete, long orderValue, int partition,
            long offset) {
        if (state != null && Orders.compare(orderValue, partition, offset, state.orderValue(), state.partition(),
                state.offset()) <= 0) {
            return new Step<>(state, false); // older than (or the same event as) what the key already reflects
        }
        long version = state != null ? state.version() : 0;
        return new Step<>(new CurrentState(orderValue, partition, offset, delete, version + 1), true);
    }
}
