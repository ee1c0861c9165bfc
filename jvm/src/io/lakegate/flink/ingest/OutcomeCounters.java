package io.lakegate.flink.ingest;

import io.lakegate.flink.metrics.LabelledCounters;
import io.lakegate.flink.plan.Plan;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;

import java.util.HashMap;
import java.util.Map;

/**
 * The route metrics the JVM half counts, named and labelled as jobs/metrics.py names them
 * (lakegate/observe/catalogue.py): {@code records} by topic, contract, schema_version and outcome, and
 * {@code quarantined_records} by contract, reason and rule. The records counters are looked up by a number
 * built from the indexes, not by building label strings per record.
 */
final class OutcomeCounters {

    private static final String NO_RULE = "none";

    private final LabelledCounters counters;
    private final Plan plan;
    private final Map<Long, Counter> records = new HashMap<>();

    OutcomeCounters(MetricGroup operatorGroup, Plan plan) {
        this.counters = new LabelledCounters(operatorGroup);
        this.plan = plan;
    }

    /** Counts one record of {@code segment}'s contract, topic and schema version with {@code outcome}. */
    void record(ValidSegment segment, Outcome outcome) {
        long id = ((long) segment.contract << 40) | ((long) outcome.ordinal() << 32)
                | (segment.schemaVersion & 0xffffffffL);
        Counter counter = records.get(id);
        if (counter == null) {
            counter = counters.counter("records",
                    "topic", plan.topics().get(segment.topic),
                    "contract", plan.contracts().get(segment.contract).name(),
                    "schema_version", segment.versionLabel(),
                    "outcome", outcome.label);
            records.put(id, counter);
        }
        counter.inc();
    }

    /** Counts one quarantined record of {@code contract} (not a rule violation: rule "none"). */
    void quarantined(int contract, String reason) {
        counters.counter("quarantined_records",
                "contract", plan.contracts().get(contract).name(), "reason", reason, "rule", NO_RULE).inc();
    }
}
