package io.lakegate.flink.metrics;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;

import java.util.HashMap;
import java.util.Map;

/**
 * Flink counters under the operator's "lakegate" group, one per label combination, created on first use.
 * Labels are key/value groups in the given order, so names and labels match the Python side's
 * (jobs/metrics.py, lakegate/observe/catalogue.py): e.g. {@code counter("records", "topic", t, "contract", c,
 * "schema_version", v, "outcome", o)} is {@code lakegate_topic_contract_schema_version_outcome_records}.
 */
public final class LabelledCounters {

    private final MetricGroup root;
    private final Map<String, Counter> counters = new HashMap<>();

    public LabelledCounters(MetricGroup operatorGroup) {
        this.root = operatorGroup.addGroup("lakegate");
    }

    /** The counter {@code name} under the key/value label pairs {@code labels} (key, value, key, value...). */
    public Counter counter(String name, String... labels) {
        if (labels.length % 2 != 0) {
            throw new IllegalArgumentException("labels come in key/value pairs: " + String.join(",", labels));
        }
        String id = name + '\u0000' + String.join("\u0000", labels);
        Counter counter = counters.get(id);
        if (counter == null) {
            MetricGroup group = root;
            for (int i = 0; i < labels.length; i += 2) {
                group = group.addGroup(labels[i], labels[i + 1]);
            }
            counter = group.counter(name);
            counters.put(id, counter);
        }
        return counter;
    }
}
