package io.lakegate.flink.ingest;

import io.lakegate.flink.wire.ByteReader;
import io.lakegate.flink.wire.ByteWriter;

import java.util.function.Consumer;

/**
 * Writes the model events of a valid record (docs/hotpath.md, "Model event"): per model event of its
 * segment, the route's fields (model, op, order, window start; key text and treated values copied as they
 * are) with the record's partition, offset, event time and topic index in between, and the record's
 * reader-schema body at the end, which the read models decode.
 */
final class ModelEvents {

    /** Model index (u16), op (u8), order value and window start (i64 each). */
    private static final int HEAD = 2 + 1 + 8 + 8;

    private final ByteWriter writer = new ByteWriter(512);

    /** Hands each model event of {@code s} (read by {@link ValidSegment#read}) to {@code out}, a new array each. */
    void write(ValidSegment s, Consumer<byte[]> out) {
        ByteReader in = new ByteReader(s.bytes, s.modelEventsStart, s.end - s.modelEventsStart);
        for (int i = 0; i < s.modelEventCount; i++) {
            int head = in.position();
            in.skip(HEAD);
            int tail = in.position();
            in.skipNullableBytes(); // key text (a string)
            int treated = in.u16();
            for (int t = 0; t < treated; t++) {
                in.skipNullableBytes();
            }
            writer.reset();
            writer.raw(s.bytes, head, HEAD);
            writer.i32(s.partition);
            writer.i64(s.offset);
            writer.i64(s.eventTimeMs);
            writer.u16(s.topic);
            writer.raw(s.bytes, tail, in.position() - tail);
            writer.nullableBytes(s.bytes, s.bodyStart, s.bodyLength);
            out.accept(writer.toByteArray());
        }
    }
}
