package io.lakegate.flink.ingest;

import org.apache.flink.api.java.functions.KeySelector;

import java.nio.charset.StandardCharsets;

/**
 * The dedupe key of a valid record's segment: {@code contract name + "\u0000" + event id} (docs/hotpath.md),
 * read at their fixed places in the segment without parsing the rest. Retries of one event (same contract,
 * same event id) meet in the same keyed state whatever partition or topic key they came with. The key names
 * the contract, not its index in the plan, because the key is the checkpointed state's key: an index moves
 * when a contract is added before it, a name does not.
 */
public final class SegmentKey implements KeySelector<byte[], String> {

    private static final long serialVersionUID = 1L;
    private final String[] contracts;

    public SegmentKey(java.util.List<String> contractNames) {
        this.contracts = contractNames.toArray(new String[0]);
    }
    /** Kind, contract, topic, partition, offset, timestamp, schema id, version, ingest time, event time. */
    static final int EVENT_ID_AT = 1 + 2 + 2 + 4 + 8 + 8 + 4 + 4 + 8 + 8;

    @Override
    public String getKey(byte[] segment) {
        if (segment.length < EVENT_ID_AT + 4 || segment[0] != ValidSegment.KIND) {
            throw new IllegalStateException(
                    "not a VALID segment (" + segment.length + " bytes): unpack emits only those");
        }
        int contract = ((segment[1] & 0xff) << 8) | (segment[2] & 0xff);
        int length = ((segment[EVENT_ID_AT] & 0xff) << 24) | ((segment[EVENT_ID_AT + 1] & 0xff) << 16)
                | ((segment[EVENT_ID_AT + 2] & 0xff) << 8) | (segment[EVENT_ID_AT + 3] & 0xff);
        if (length < 0 || length > segment.length - EVENT_ID_AT - 4) {
            throw new IllegalStateException("event id length " + length + " runs past the segment");
        }
        if (contract >= contracts.length) {
            throw new IllegalStateException("contract index " + contract + " is not in the plan");
        }
        return contracts[contract] + "\u0000" + new String(segment, EVENT_ID_AT + 4, length, StandardCharsets.UTF_8);
    }
}
