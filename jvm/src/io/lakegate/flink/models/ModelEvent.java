package io.lakegate.flink.models;

import io.lakegate.flink.wire.ByteReader;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * One model event (docs/hotpath.md, "Model event"): its header read into fields, its key text, treated values
 * and body left in place in the event's bytes (positions only), so that a change superseded before it is
 * emitted never costs a copy or a decode.
 */
public final class ModelEvent {

    public static final int UPSERT = 1;
    public static final int DELETE = 2;
    /** The window start of an event of a model without a window. */
    public static final long NO_WINDOW = Long.MIN_VALUE;

    /** Bytes before the key text: u16 model, u8 op, i64 order, i64 window start, i32 partition, i64 offset,
     * i64 event time, u16 topic. */
    private static final int HEADER_BYTES = 2 + 1 + 8 + 8 + 4 + 8 + 8 + 2;

    private final byte[] bytes;
    private final int modelIndex;
    private final int op;
    private final long orderValue;
    private final long windowStart;
    private final int partition;
    private final long offset;
    private final long eventTime;
    private final int topicIndex;
    private final int keyStart;
    private final int keyLength;
    private final int[] treatedStarts; // -1: null
    private final int[] treatedLengths;
    private final int bodyStart; // -1: null
    private final int bodyLength;

    private ModelEvent(byte[] bytes, ByteReader in) {
        this.bytes = bytes;
        modelIndex = in.u16();
        op = in.u8();
        if (op != UPSERT && op != DELETE) {
            throw new CorruptModelEvent("model event op " + op + " (1 = upsert, 2 = delete)");
        }
        orderValue = in.i64();
        windowStart = in.i64();
        partition = in.i32();
        offset = in.i64();
        eventTime = in.i64();
        topicIndex = in.u16();
        int length = in.i32();
        if (length < 0) {
            throw new CorruptModelEvent("negative key text length " + length);
        }
        keyStart = in.position();
        keyLength = length;
        in.skip(length);
        int treated = in.u16();
        treatedStarts = new int[treated];
        treatedLengths = new int[treated];
        for (int i = 0; i < treated; i++) {
            treatedStarts[i] = in.skipNullableBytes();
            treatedLengths[i] = treatedStarts[i] < 0 ? 0 : in.position() - treatedStarts[i];
        }
        bodyStart = in.skipNullableBytes();
        bodyLength = bodyStart < 0 ? 0 : in.position() - bodyStart;
        if (!in.atEnd()) {
            throw new CorruptModelEvent(in.remaining() + " bytes left after the model event's body");
        }
    }

    /** The event in {@code bytes} (kept, not copied); {@link CorruptModelEvent} if they are not one exactly. */
    public static ModelEvent parse(byte[] bytes) {
        try {
            return new ModelEvent(bytes, new ByteReader(bytes));
        } catch (CorruptModelEvent e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new CorruptModelEvent("malformed model event: " + e.getMessage(), e);
        }
    }

    /** The model index of the event in {@code bytes}, read without parsing the rest. */
    public static int modelIndex(byte[] bytes) {
        try {
            return new ByteReader(bytes).u16();
        } catch (IllegalArgumentException e) {
            throw new CorruptModelEvent("malformed model event: " + e.getMessage(), e);
        }
    }

    /** The key text of the event in {@code bytes}, read without parsing the rest. */
    public static String keyText(byte[] bytes) {
        try {
            ByteReader in = new ByteReader(bytes);
            in.skip(HEADER_BYTES);
            return in.string();
        } catch (IllegalArgumentException e) {
            throw new CorruptModelEvent("malformed model event: " + e.getMessage(), e);
        }
    }

    public byte[] bytes() {
        return bytes;
    }

    public int modelIndex() {
        return modelIndex;
    }

    public boolean isDelete() {
        return op == DELETE;
    }

    public long orderValue() {
        return orderValue;
    }

    public long windowStart() {
        return windowStart;
    }

    public int partition() {
        return partition;
    }

    public long offset() {
        return offset;
    }

    public long eventTime() {
        return eventTime;
    }

    public int topicIndex() {
        return topicIndex;
    }

    public String keyText() {
        return new String(bytes, keyStart, keyLength, StandardCharsets.UTF_8);
    }

    /** Where the key text's UTF-8 bytes start in {@link #bytes()}. */
    public int keyStart() {
        return keyStart;
    }

    public int keyLength() {
        return keyLength;
    }

    /** The key text's UTF-8 bytes (a copy): the changelog's Kafka key. */
    public byte[] keyBytes() {
        return Arrays.copyOfRange(bytes, keyStart, keyStart + keyLength);
    }

    public int treatedCount() {
        return treatedStarts.length;
    }

    /** Whether treated value {@code index} is null. */
    public boolean treatedIsNull(int index) {
        return treatedStarts[index] < 0;
    }

    /** Where treated value {@code index}'s UTF-8 bytes start in {@link #bytes()}; -1 for null. */
    public int treatedStart(int index) {
        return treatedStarts[index];
    }

    public int treatedLength(int index) {
        return treatedLengths[index];
    }

    /** Treated value {@code index}'s UTF-8 bytes (a copy), or null. */
    public byte[] treatedBytes(int index) {
        int start = treatedStarts[index];
        return start < 0 ? null : Arrays.copyOfRange(bytes, start, start + treatedLengths[index]);
    }

    public boolean hasBody() {
        return bodyStart >= 0;
    }

    public int bodyStart() {
        return bodyStart;
    }

    public int bodyLength() {
        return bodyLength;
    }

    /** Whether this event's order tuple (order value, partition, offset) is greater than the given one. */
    public boolean after(long otherValue, int otherPartition, long otherOffset) {
        return Orders.compare(orderValue, partition, offset, otherValue, otherPartition, otherOffset) > 0;
    }
}
