package io.lakegate.flink.models;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * The coalescing buffer of a mini-batch: at most one value per key, the latest put wins, drained in the order
 * keys first arrived. The read-model operator keeps each key's latest pending change here, so a key changed
 * many times between two flushes costs one emitted change.
 */
public final class LatestPerKey<K, V> {

    /** What a drain does with each value. */
    @FunctionalInterface
    public interface Each<V> {
        void accept(V value) throws Exception;
    }

    private final LinkedHashMap<K, V> pending = new LinkedHashMap<>();

    /** Keeps {@code value} for {@code key}, replacing any earlier one. */
    public void put(K key, V value) {
        pending.put(key, value);
    }

    public V get(K key) {
        return pending.get(key);
    }

    public int size() {
        return pending.size();
    }

    public boolean isEmpty() {
        return pending.isEmpty();
    }

    /** Hands every value to {@code each} and empties the buffer (first, so puts during the drain are kept). */
    public void drain(Each<V> each) throws Exception {
        if (pending.isEmpty()) {
            return;
        }
        List<V> values = new ArrayList<>(pending.values());
        pending.clear();
        for (V value : values) {
            each.accept(value);
        }
    }
}
