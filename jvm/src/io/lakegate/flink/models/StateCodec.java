package io.lakegate.flink.models;

import io.lakegate.flink.wire.ByteReader;
import io.lakegate.flink.wire.ByteWriter;

import org.apache.flink.table.data.StringData;

/**
 * A key's read-model state as the compact byte string kept in keyed state (one {@code ValueState<byte[]>}:
 * no Kryo, no serializer to evolve; the first byte names the layout).
 *
 * <pre>
 * current   (30 bytes): u8 1, i64 order value, i32 partition, i64 offset, u8 deleted, i64 version
 * aggregate: u8 2, varint version, u8 has latest, [i64 order value, i32 partition, i64 offset],
 *            varint measure count, per measure: varint count, value
 * value:     u8 tag, then 0 null | 1 false | 2 true | 3 long (zig-zag varint) | 4 double (i64 bits)
 *            | 5 string (varint length, UTF-8) | 6 bytes (varint length, bytes)
 * </pre>
 *
 * <p>Varints are unsigned LEB128 (7 bits a byte, low first). One codec per operator: it reuses its buffer.
 */
public final class StateCodec {

    private static final int CURRENT = 1;
    private static final int AGGREGATE = 2;
    private static final int NULL = 0;
    private static final int FALSE = 1;
    private static final int TRUE = 2;
    private static final int LONG = 3;
    private static final int DOUBLE = 4;
    private static final int STRING = 5;
    private static final int BYTES = 6;

    private final ByteWriter out = new ByteWriter(64);

    public byte[] encode(CurrentState state) {
        out.reset();
        out.u8(CURRENT);
        out.i64(state.orderValue());
        out.i32(state.partition());
        out.i64(state.offset());
        out.u8(state.deleted() ? 1 : 0);
        out.i64(state.version());
        return out.toByteArray();
    }

    /** The state in {@code bytes}; null for null (a key without state). */
    public static CurrentState current(byte[] bytes) {
        if (bytes == null) {
            return null;
        }
        try {
            ByteReader in = new ByteReader(bytes);
            layout(in, CURRENT, "current");
            CurrentState state = new CurrentState(in.i64(), in.i32(), in.i64(), flag(in), in.i64());
            end(in);
            return state;
        } catch (IllegalArgumentException e) {
            throw new CorruptModelState("a current model's state does not decode: " + e.getMessage());
        }
    }

    public byte[] encode(AggregateState state) {
        out.reset();
        out.u8(AGGREGATE);
        varint(state.version());
        out.u8(state.hasLatest() ? 1 : 0);
        if (state.hasLatest()) {
            out.i64(state.latestValue());
            out.i32(state.latestPartition());
            out.i64(state.latestOffset());
        }
        varint(state.measureCount());
        for (int i = 0; i < state.measureCount(); i++) {
            varint(state.count(i));
            value(state.value(i));
        }
        return out.toByteArray();
    }

    /** The state in {@code bytes} (null for null), which must hold {@code measures} measures. */
    public static AggregateState aggregate(byte[] bytes, int measures) {
        if (bytes == null) {
            return null;
        }
        try {
            ByteReader in = new ByteReader(bytes);
            layout(in, AGGREGATE, "aggregate");
            long version = varint(in);
            boolean hasLatest = flag(in);
            long latestValue = hasLatest ? in.i64() : 0;
            int latestPartition = hasLatest ? in.i32() : 0;
            long latestOffset = hasLatest ? in.i64() : 0;
            long count = varint(in);
            if (count != measures) {
                throw new CorruptModelState("an aggregate's state holds " + count + " measures, the model has "
                        + measures + ": its declaration changed; rebuild it");
            }
            Object[] values = new Object[measures];
            long[] counts = new long[measures];
            for (int i = 0; i < measures; i++) {
                counts[i] = varint(in);
                values[i] = value(in);
            }
            end(in);
            return new AggregateState(values, counts, hasLatest, latestValue, latestPartition, latestOffset,
                    version);
        } catch (IllegalArgumentException e) {
            throw new CorruptModelState("an aggregate's state does not decode: " + e.getMessage());
        }
    }

    private void value(Object value) {
        if (value == null) {
            out.u8(NULL);
        } else if (value instanceof Boolean) {
            out.u8((Boolean) value ? TRUE : FALSE);
        } else if (value instanceof Long) {
            out.u8(LONG);
            long v = (Long) value;
            varint((v << 1) ^ (v >> 63));
        } else if (value instanceof Double) {
            out.u8(DOUBLE);
            out.i64(Double.doubleToRawLongBits((Double) value));
        } else if (value instanceof StringData) {
            byte[] utf8 = ((StringData) value).toBytes();
            out.u8(STRING);
            varint(utf8.length);
            out.raw(utf8, 0, utf8.length);
        } else if (value instanceof byte[]) {
            byte[] bytes = (byte[]) value;
            out.u8(BYTES);
            varint(bytes.length);
            out.raw(bytes, 0, bytes.length);
        } else {
            throw new ValueMismatch("a measure value of type " + value.getClass().getName() + " is not canonical");
        }
    }

    private static Object value(ByteReader in) {
        int tag = in.u8();
        switch (tag) {
            case NULL: return null;
            case FALSE: return Boolean.FALSE;
            case TRUE: return Boolean.TRUE;
            case LONG: {
                long raw = varint(in);
                return (raw >>> 1) ^ -(raw & 1);
            }
            case DOUBLE: return Double.longBitsToDouble(in.i64());
            case STRING: return StringData.fromBytes(bytes(in));
            case BYTES: return bytes(in);
            default: throw new CorruptModelState("unknown value tag " + tag + " in an aggregate's state");
        }
    }

    private static byte[] bytes(ByteReader in) {
        long length = varint(in);
        if (length > in.remaining()) {
            throw new CorruptModelState("a value of " + length + " bytes runs past the end of the state");
        }
        byte[] copy = java.util.Arrays.copyOfRange(in.array(), in.position(), in.position() + (int) length);
        in.skip((int) length);
        return copy;
    }

    private void varint(long value) {
        long v = value;
        while ((v & ~0x7fL) != 0) {
            out.u8((int) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        out.u8((int) v);
    }

    private static long varint(ByteReader in) {
        long value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            int b = in.u8();
            value |= (long) (b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return value;
            }
        }
        throw new CorruptModelState("a varint longer than 10 bytes in a model's state");
    }

    private static void layout(ByteReader in, int expected, String kind) {
        int layout = in.u8();
        if (layout != expected) {
            throw new CorruptModelState("state of layout " + layout + " where a " + kind + " model keeps layout "
                    + expected + ": the model changed kind; rebuild it");
        }
    }

    private static boolean flag(ByteReader in) {
        int b = in.u8();
        if (b > 1) {
            throw new CorruptModelState("flag byte " + b + " in a model's state");
        }
        return b == 1;
    }

    private static void end(ByteReader in) {
        if (!in.atEnd()) {
            throw new CorruptModelState(in.remaining() + " bytes left after a model's state");
        }
    }
}
