package io.lakegate.flink.models;

/**
 * What applying one event to a key's state gives: the state to keep ({@code state == before} when nothing
 * needs storing; null only for an aggregate key that has none yet and whose event was late) and whether
 * the event made a change, which carries the new state's version.
 */
public record Step<S>(S state, boolean changed) {}
