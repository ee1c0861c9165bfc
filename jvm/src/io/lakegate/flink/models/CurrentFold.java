package io.lakegate.flink.models;

/**
 * The ordering rule of a current model (udfs.readmodels.apply_current): an event wins iff its order tuple is
 * greater than the key's; a delete of a deleted key only remembers the newer tombstone; a delete of a key
 * without state is still a change (the state may be younger than the key); versions continue across
 * tombstones, so the highest version per key is its current row.
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
        if (delete && state != null && state.deleted()) {
            return new Step<>(new CurrentState(orderValue, partition, offset, true, version), false);
        }
        return new Step<>(new CurrentState(orderValue, partition, offset, delete, version + 1), true);
    }
}
