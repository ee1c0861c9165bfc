package io.lakegate.flink.wire;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** Writes the big-endian formats of docs/hotpath.md into a growing byte array (reused between batches). */
public final class ByteWriter {

    private byte[] buffer;
    private int size;

    public ByteWriter(int initialCapacity) {
        this.buffer = new byte[Math.max(16, initialCapacity)];
    }

    public int size() {
        return size;
    }

    public void reset() {
        size = 0;
    }

    /** A copy of what was written since the last {@link #reset()}. */
    public byte[] toByteArray() {
        return Arrays.copyOf(buffer, size);
    }

    public void u8(int value) {
        ensure(1);
        buffer[size++] = (byte) value;
    }

    public void u16(int value) {
        ensure(2);
        buffer[size++] = (byte) (value >>> 8);
        buffer[size++] = (byte) value;
    }

    public void i32(int value) {
        ensure(4);
        buffer[size++] = (byte) (value >>> 24);
        buffer[size++] = (byte) (value >>> 16);
        buffer[size++] = (byte) (value >>> 8);
        buffer[size++] = (byte) value;
    }

    /** Overwrites the i32 at {@code at} (e.g. a count written before the entries it counts). */
    public void i32At(int at, int value) {
        buffer[at] = (byte) (value >>> 24);
        buffer[at + 1] = (byte) (value >>> 16);
        buffer[at + 2] = (byte) (value >>> 8);
        buffer[at + 3] = (byte) value;
    }

    public void i64(long value) {
        i32((int) (value >>> 32));
        i32((int) value);
    }

    public void string(String value) {
        byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
        i32(utf8.length);
        raw(utf8, 0, utf8.length);
    }

    public void nullableBytes(byte[] value) {
        if (value == null) {
            i32(-1);
            return;
        }
        nullableBytes(value, 0, value.length);
    }

    public void nullableBytes(byte[] source, int offset, int length) {
        i32(length);
        raw(source, offset, length);
    }

    public void raw(byte[] source, int offset, int length) {
        ensure(length);
        System.arraycopy(source, offset, buffer, size, length);
        size += length;
    }

    private void ensure(int count) {
        if (size + count > buffer.length) {
            buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, size + count));
        }
    }
}
