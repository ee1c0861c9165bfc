package io.lakegate.flink.models;

/**
 * Per key of a current model: the order tuple of the last applied event (also of a tombstone), whether the
 * key is deleted, and the version of its last change (udfs.readmodels.CurrentState).
 */
public record CurrentState(long orderValue, int partition, long offset, boolean deleted, long version) {}
