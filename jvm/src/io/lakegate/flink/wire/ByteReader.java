package io.lakegate.flink.wire;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Reads the big-endian formats of docs/hotpath.md (input batch, result batch, model event) from a byte
 * array. A read past the end throws {@link IllegalArgumentException}: these bytes come from lakegate's own
 * writers, so a malformed batch is a bug and fails the task rather than dropping or guessing records.
 */
public final class ByteReader {

    private final byte[] bytes;
    private final int end;
    private int position;

    public ByteReader(byte[] bytes) {
        this(bytes, 0, bytes.length);
    }

    public ByteReader(byte[] bytes, int offset, int length) {
        this.bytes = bytes;
        this.position = offset;
        this.end = offset + length;
    }

    public byte[] array() {
        return bytes;
    }

    public int position() {
        return position;
    }

    public boolean atEnd() {
        return position == end;
    }

    public int remaining() {
        return end - position;
    }

    public int u8() {
        need(1);
        return bytes[position++] & 0xff;
    }

    public int u16() {
        need(2);
        int value = ((bytes[position] & 0xff) << 8) | (bytes[position + 1] & 0xff);
        position += 2;
        return value;
    }

    public int i32() {
        need(4);
        int value = ((bytes[position] & 0xff) << 24) | ((bytes[position + 1] & 0xff) << 16)
                | ((bytes[position + 2] & 0xff) << 8) | (bytes[position + 3] & 0xff);
        position += 4;
        return value;
    }

    public long i64() {
        long high = i32() & 0xffffffffL;
        long low = i32() & 0xffffffffL;
        return (high << 32) | low;
    }

    /** An i32 length and that many UTF-8 bytes. */
    public String string() {
        int length = length(false);
        String value = new String(bytes, position, length, StandardCharsets.UTF_8);
        position += length;
        return value;
    }

    /** An i32 length (-1 = null) and that many bytes, copied. */
    public byte[] nullableBytes() {
        int length = length(true);
        if (length < 0) {
            return null;
        }
        byte[] value = Arrays.copyOfRange(bytes, position, position + length);
        position += length;
        return value;
    }

    /**
     * Skips a nullable bytes value and returns where its data starts (or -1 for null); its length is the
     * difference to {@link #position()} afterwards. For values read in place, without a copy.
     */
    public int skipNullableBytes() {
        int length = length(true);
        if (length < 0) {
            return -1;
        }
        int start = position;
        position += length;
        return start;
    }

    /** Skips {@code count} bytes. */
    public void skip(int count) {
        need(count);
        position += count;
    }

    private int length(boolean nullable) {
        int length = i32();
        if (length == -1 && nullable) {
            return -1;
        }
        if (length < 0) {
            throw new IllegalArgumentException("negative length " + length + " at byte " + (position - 4));
        }
        need(length);
        return length;
    }

    private void need(int count) {
        if (count > end - position) {
            throw new IllegalArgumentException(
                    "needs " + count + " bytes at byte " + position + " but the data ends at " + end);
        }
    }
}
