package io.lakegate.flink.models;

/**
 * The ordering rule (udfs/readmodels/folds.py): order tuples {@code (order value, Kafka partition, Kafka offset)}
 * compare lexicographically; partition and offset only break ties, so the outcome never depends on the order
 * in which partitions are read.
 */
public final class Orders {

    private Orders() {}

    /** Negative, zero or positive as tuple a is less than, equal to or greater than tuple b. */
    public static int compare(long aValue, int aPartition, long aOffset, long bValue, int bPartition, long bOffset) {
        int c = Long.compare(aValue, bValue);
        if (c != 0) {
            return c;
        }
        c = Integer.compare(aPartition, bPartition);
        return c != 0 ? c : Long.compare(aOffset, bOffset);
    }
}
