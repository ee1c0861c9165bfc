package io.lakegate.flink.ingest;

import io.lakegate.flink.plan.Plan;
import io.lakegate.flink.wire.ByteReader;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A VALID entry of a result batch (docs/hotpath.md, "Result batch", kind 1), read in place: its fixed fields,
 * and where its key, value, Avro body and model events sit in the bytes. Unpack reads one in each batch entry
 * and passes the entry's bytes on as one segment; dedupe reads the segment again. One instance is reused for
 * every entry of an operator (it is never emitted).
 *
 * <p>{@link #read} checks the structure and every index against the plan: a violation is a bug in the route
 * or a plan/jar mismatch, reported as {@link IllegalArgumentException} for the caller to fail the task with.
 */
final class ValidSegment {

    static final int KIND = 1;
    /** Body kind 0: the Avro body is the framed value after its 5-byte frame (magic byte, schema id). */
    static final int BODY_IN_VALUE = 0;
    /** Body kind 1: a body re-encoded with the reader schema follows. */
    static final int BODY_REENCODED = 1;
    private static final int FRAME = 5;

    byte[] bytes;
    int start;
    int end;
    int contract;
    int topic;
    int partition;
    long offset;
    long timestampMs;
    int schemaId;
    int schemaVersion;
    long ingestTimeMs;
    long eventTimeMs;
    int eventIdStart;
    int eventIdLength;
    int keyStart;
    int keyLength;
    int valueStart;
    int valueLength;
    int bodyStart;
    int bodyLength;
    int modelEventCount;
    int modelEventsStart;

    /**
     * Reads the entry whose kind byte {@code in} is at (and checks it is VALID); afterwards {@code in} is just
     * past the entry's last model event, which is {@link #end}.
     */
    void read(ByteReader in, Plan plan) {
        bytes = in.array();
        start = in.position();
        int kind = in.u8();
        if (kind != KIND) {
            throw new IllegalArgumentException("entry kind " + kind + " where a VALID entry (1) should start");
        }
        contract = in.u16();
        if (contract >= plan.contracts().size()) {
            throw new IllegalArgumentException("contract index " + contract + ", the plan has "
                    + plan.contracts().size() + " contracts");
        }
        topic = in.u16();
        if (topic != plan.contracts().get(contract).topicIndex()) {
            throw new IllegalArgumentException("topic index " + topic + " for contract "
                    + plan.contracts().get(contract).name() + ", whose topic index is "
                    + plan.contracts().get(contract).topicIndex());
        }
        partition = in.i32();
        offset = in.i64();
        timestampMs = in.i64();
        schemaId = in.i32();
        schemaVersion = in.i32();
        ingestTimeMs = in.i64();
        eventTimeMs = in.i64();
        eventIdLength = in.i32();
        if (eventIdLength < 0) {
            throw new IllegalArgumentException("negative event id length " + eventIdLength);
        }
        eventIdStart = in.position();
        in.skip(eventIdLength);
        keyStart = in.skipNullableBytes();
        keyLength = keyStart < 0 ? -1 : in.position() - keyStart;
        valueStart = in.skipNullableBytes();
        valueLength = valueStart < 0 ? -1 : in.position() - valueStart;
        int bodyKind = in.u8();
        if (bodyKind == BODY_IN_VALUE) {
            if (valueLength < FRAME) {
                throw new IllegalArgumentException("body kind 0 (the body is the value's) but the value has "
                        + valueLength + " bytes, fewer than the 5-byte frame");
            }
            bodyStart = valueStart + FRAME;
            bodyLength = valueLength - FRAME;
        } else if (bodyKind == BODY_REENCODED) {
            bodyStart = in.skipNullableBytes();
            if (bodyStart < 0) {
                throw new IllegalArgumentException("body kind 1 (re-encoded) with a null body");
            }
            bodyLength = in.position() - bodyStart;
        } else {
            throw new IllegalArgumentException("body kind " + bodyKind + " is neither 0 nor 1");
        }
        modelEventCount = in.u16();
        modelEventsStart = in.position();
        for (int i = 0; i < modelEventCount; i++) {
            int model = in.u16();
            if (model >= plan.models().size() || plan.models().get(model).contractIndex() != contract) {
                throw new IllegalArgumentException("model event " + i + " names model index " + model
                        + ", not a model of contract " + plan.contracts().get(contract).name());
            }
            int op = in.u8();
            if (op != 1 && op != 2) {
                throw new IllegalArgumentException("model event " + i + " has op " + op + ", neither 1 nor 2");
            }
            in.skip(16); // order value, window start
            skipString(in);
            int treated = in.u16();
            for (int t = 0; t < treated; t++) {
                in.skipNullableBytes();
            }
        }
        end = in.position();
    }

    private static void skipString(ByteReader in) {
        if (in.skipNullableBytes() < 0) {
            throw new IllegalArgumentException("a null string (length -1) at byte " + (in.position() - 4));
        }
    }

    String eventId() {
        return new String(bytes, eventIdStart, eventIdLength, StandardCharsets.UTF_8);
    }

    /** A copy of the original Kafka key, or null. */
    byte[] key() {
        return keyStart < 0 ? null : Arrays.copyOfRange(bytes, keyStart, keyStart + keyLength);
    }

    /** A copy of the original framed value, or null. */
    byte[] value() {
        return valueStart < 0 ? null : Arrays.copyOfRange(bytes, valueStart, valueStart + valueLength);
    }

    /** The schema version as a metric label: the number, or "unknown" when the contract does not list it. */
    String versionLabel() {
        return schemaVersion < 0 ? "unknown" : Integer.toString(schemaVersion);
    }
}
