package io.lakegate.flink;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;

import java.util.Arrays;

/**
 * Turns one row that a Python operator encoded as Avro binary (udfs/rowcodec.py: a flat record of
 * primitive fields, each nullable one as the union ["null", T]) into Flink's internal {@link RowData}.
 *
 * <p>Why: one byte array crosses from Python in one piece, where a row would cross field by field (a Java
 * object per field, then Flink's external-to-internal conversion) under the Python interpreter's lock. It
 * is decoded here without intermediate objects: strings stay UTF-8 bytes ({@link StringData#fromBytes}),
 * timestamps become {@link TimestampData} directly.
 *
 * <p>The bytes come from lakegate's own encoder, so anything malformed is a bug: it fails the task
 * (and Flink restarts it from the last checkpoint) rather than dropping or guessing a row.
 */
public final class AvroRowDecoder implements MapFunction<byte[], RowData> {

    private static final long serialVersionUID = 1L;

    /** The column kinds of udfs/columns.py (ColumnKind values), in the order of the encoded fields. */
    public enum Kind { STRING, BOOLEAN, INT, LONG, FLOAT, DOUBLE, BYTES, TIMESTAMP_MS }

    private final Kind[] kinds;
    private final boolean[] nullable;

    /**
     * @param kinds    per field, a ColumnKind value of udfs/columns.py ("string", "timestamp_ms", ...)
     * @param nullable per field, whether it was encoded as the union ["null", T]
     */
    public AvroRowDecoder(String[] kinds, boolean[] nullable) {
        if (kinds.length != nullable.length) {
            throw new IllegalArgumentException(
                    kinds.length + " kinds but " + nullable.length + " nullability flags");
        }
        this.kinds = new Kind[kinds.length];
        for (int i = 0; i < kinds.length; i++) {
            this.kinds[i] = Kind.valueOf(kinds[i].toUpperCase(java.util.Locale.ROOT));
        }
        this.nullable = nullable.clone();
    }

    @Override
    public RowData map(byte[] value) {
        return decode(value);
    }

    /** The row encoded in {@code bytes}; IllegalArgumentException if they are not one such row exactly. */
    public GenericRowData decode(byte[] bytes) {
        Reader in = new Reader(bytes);
        GenericRowData row = new GenericRowData(kinds.length);
        try {
            for (int i = 0; i < kinds.length; i++) {
                if (nullable[i]) {
                    long branch = in.readLong();
                    if (branch == 0) {
                        continue; // GenericRowData fields start out null
                    }
                    if (branch != 1) {
                        throw new IllegalArgumentException("field " + i + ": union branch " + branch);
                    }
                }
                row.setField(i, in.read(kinds[i]));
            }
        } catch (ArrayIndexOutOfBoundsException e) {
            throw new IllegalArgumentException("row truncated after " + bytes.length + " bytes", e);
        }
        if (in.position != bytes.length) {
            throw new IllegalArgumentException(
                    (bytes.length - in.position) + " bytes left after the last of " + kinds.length + " fields");
        }
        return row;
    }

    /** Avro's binary encoding of the primitive types (zig-zag varints, little-endian floats). */
    private static final class Reader {
        private final byte[] bytes;
        private int position;

        Reader(byte[] bytes) {
            this.bytes = bytes;
        }

        Object read(Kind kind) {
            switch (kind) {
                case STRING:
                    int length = length();
                    StringData text = StringData.fromBytes(bytes, position, length);
                    position += length;
                    return text;
                case BOOLEAN:
                    return bytes[position++] != 0;
                case INT:
                    return Math.toIntExact(readLong());
                case LONG:
                    return readLong();
                case FLOAT:
                    return Float.intBitsToFloat((int) littleEndian(4));
                case DOUBLE:
                    return Double.longBitsToDouble(littleEndian(8));
                case BYTES:
                    int size = length();
                    byte[] copy = Arrays.copyOfRange(bytes, position, position + size);
                    position += size;
                    return copy;
                case TIMESTAMP_MS:
                    return TimestampData.fromEpochMillis(readLong());
                default:
                    throw new IllegalStateException("unhandled kind " + kind);
            }
        }

        private int length() {
            long length = readLong();
            if (length < 0 || length > bytes.length - position) {
                throw new IllegalArgumentException("length " + length + " at byte " + position
                        + " runs past the end (" + bytes.length + " bytes)");
            }
            return (int) length;
        }

        long readLong() {
            long raw = 0;
            int shift = 0;
            int b;
            do {
                if (shift > 63) {
                    throw new IllegalArgumentException("varint longer than 10 bytes at byte " + position);
                }
                b = bytes[position++] & 0xff;
                raw |= (long) (b & 0x7f) << shift;
                shift += 7;
            } while ((b & 0x80) != 0);
            return (raw >>> 1) ^ -(raw & 1); // zig-zag
        }

        private long littleEndian(int size) {
            long value = 0;
            for (int i = 0; i < size; i++) {
                value |= (long) (bytes[position + i] & 0xff) << (8 * i);
            }
            position += size;
            return value;
        }
    }
}
