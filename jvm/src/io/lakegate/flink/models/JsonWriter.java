package io.lakegate.flink.models;

import org.apache.flink.table.data.StringData;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;

/**
 * Writes one flat JSON object as Python's {@code json.dumps(..., ensure_ascii=False, separators=(",", ":"))}
 * does for a change (udfs.readmodels.change_json): UTF-8, no spaces, non-ASCII characters as they are, only
 * {@code "}, {@code \} and control characters escaped. Values are canonical ({@link Values}): longs as integers
 * (timestamps as epoch millis), doubles in Java's shortest round-trip notation (the same number as Python's,
 * possibly spelled otherwise, e.g. 1.0E16 for 1e+16), NaN and ±Infinity as null (strict JSON has neither),
 * strings as strings, bytes as base64 strings.
 *
 * <p>One writer is reused for every change of an operator; {@link #toByteArray()} copies the result.
 */
public final class JsonWriter {

    private static final byte[] NULL = ascii("null");
    private static final byte[] TRUE = ascii("true");
    private static final byte[] FALSE = ascii("false");
    private static final byte[] HEX = ascii("0123456789abcdef");

    private byte[] buffer = new byte[256];
    private int size;
    private boolean first;

    /** {@code "name":} as bytes, computed once per field name. */
    public static byte[] fieldName(String name) {
        JsonWriter out = new JsonWriter();
        byte[] utf8 = name.getBytes(StandardCharsets.UTF_8);
        out.string(utf8, 0, utf8.length);
        out.put((byte) ':');
        return out.toByteArray();
    }

    public void reset() {
        size = 0;
    }

    public void beginObject() {
        put((byte) '{');
        first = true;
    }

    public void endObject() {
        put((byte) '}');
    }

    /** Starts a member: a comma unless it is the first, then {@code fieldName} (from {@link #fieldName}). */
    public JsonWriter name(byte[] fieldName) {
        if (!first) {
            put((byte) ',');
        }
        first = false;
        raw(fieldName, 0, fieldName.length);
        return this;
    }

    /** A canonical value; {@code kind} tells bytes (base64) from other byte arrays, which are not canonical. */
    public void value(Object value, ColumnKind kind) {
        if (value == null) {
            raw(NULL, 0, NULL.length);
        } else if (value instanceof Boolean) {
            byte[] word = (Boolean) value ? TRUE : FALSE;
            raw(word, 0, word.length);
        } else if (value instanceof Long) {
            number((Long) value);
        } else if (value instanceof Double) {
            number((Double) value);
        } else if (value instanceof StringData) {
            byte[] utf8 = ((StringData) value).toBytes();
            string(utf8, 0, utf8.length);
        } else if (value instanceof byte[] && kind == ColumnKind.BYTES) {
            byte[] base64 = Base64.getEncoder().encode((byte[]) value);
            put((byte) '"');
            raw(base64, 0, base64.length);
            put((byte) '"');
        } else {
            throw new ValueMismatch("no JSON for a " + value.getClass().getSimpleName() + " in a " + kind
                    + " column");
        }
    }

    public void number(long value) {
        byte[] digits = ascii(Long.toString(value));
        raw(digits, 0, digits.length);
    }

    /** A finite double in Java's round-trip notation; NaN and ±Infinity as null. */
    public void number(double value) {
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            raw(NULL, 0, NULL.length);
            return;
        }
        byte[] digits = ascii(Double.toString(value));
        raw(digits, 0, digits.length);
    }

    /** A string given as UTF-8 bytes, quoted and escaped as Python's json module escapes it. */
    public void string(byte[] utf8, int offset, int length) {
        put((byte) '"');
        int end = offset + length;
        int run = offset; // start of the bytes not yet copied
        for (int i = offset; i < end; i++) {
            int b = utf8[i] & 0xff;
            if (b >= 0x20 && b != '"' && b != '\\') {
                continue;
            }
            raw(utf8, run, i - run);
            run = i + 1;
            escape(b);
        }
        raw(utf8, run, end - run);
        put((byte) '"');
    }

    public void string(String value) {
        byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
        string(utf8, 0, utf8.length);
    }

    public byte[] toByteArray() {
        return Arrays.copyOf(buffer, size);
    }

    private void escape(int b) {
        put((byte) '\\');
        switch (b) {
            case '"': put((byte) '"'); return;
            case '\\': put((byte) '\\'); return;
            case '\n': put((byte) 'n'); return;
            case '\r': put((byte) 'r'); return;
            case '\t': put((byte) 't'); return;
            case '\b': put((byte) 'b'); return;
            case '\f': put((byte) 'f'); return;
            default:
                put((byte) 'u');
                put((byte) '0');
                put((byte) '0');
                put(HEX[b >> 4]);
                put(HEX[b & 0xf]);
        }
    }

    private void put(byte b) {
        ensure(1);
        buffer[size++] = b;
    }

    private void raw(byte[] source, int offset, int length) {
        ensure(length);
        System.arraycopy(source, offset, buffer, size, length);
        size += length;
    }

    private void ensure(int count) {
        if (size + count > buffer.length) {
            buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, size + count));
        }
    }

    private static byte[] ascii(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }
}
