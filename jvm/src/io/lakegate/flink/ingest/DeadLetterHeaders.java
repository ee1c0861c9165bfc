package io.lakegate.flink.ingest;

import io.lakegate.flink.wire.ByteReader;
import io.lakegate.flink.wire.ByteWriter;

import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The dead-letter headers of a quarantine element, in the encoding of a QUARANTINED entry's header list
 * (docs/hotpath.md: u16 count, per header a string name and a nullable bytes value). Python's headers are
 * kept as the route wrote them; Java's (corrupt bodies, duplicates) are written here in the same encoding.
 */
public final class DeadLetterHeaders {

    private final ByteWriter writer = new ByteWriter(256);
    private int count;

    /** Starts an empty header list. */
    public DeadLetterHeaders() {
        writer.u16(0);
    }

    /** Adds {@code name} with the UTF-8 of {@code value}; a null value is left out (as Python leaves out None). */
    public DeadLetterHeaders add(String name, Object value) {
        if (value != null) {
            writer.string(name);
            writer.nullableBytes(String.valueOf(value).getBytes(StandardCharsets.UTF_8));
            count++;
        }
        return this;
    }

    /** The encoded list. */
    public byte[] toByteArray() {
        byte[] bytes = writer.toByteArray();
        bytes[0] = (byte) (count >>> 8);
        bytes[1] = (byte) count;
        return bytes;
    }

    /** Kafka headers of an encoded list; IllegalArgumentException if the bytes are not exactly one list. */
    public static List<Header> decode(byte[] encoded) {
        ByteReader in = new ByteReader(encoded);
        int count = in.u16();
        List<Header> headers = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            headers.add(new RecordHeader(in.string(), in.nullableBytes()));
        }
        if (!in.atEnd()) {
            throw new IllegalArgumentException(in.remaining() + " bytes left after " + count + " headers");
        }
        return headers;
    }

    /** Skips an encoded list in {@code in} (validating its structure) and returns where it started. */
    public static int skip(ByteReader in) {
        int start = in.position();
        int count = in.u16();
        for (int i = 0; i < count; i++) {
            if (in.skipNullableBytes() < 0) { // a name is a string: the same layout, never null
                throw new IllegalArgumentException("header " + i + " has a null name");
            }
            in.skipNullableBytes();
        }
        return start;
    }
}
