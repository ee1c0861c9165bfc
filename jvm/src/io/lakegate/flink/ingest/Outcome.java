package io.lakegate.flink.ingest;

/** The {@code outcome} label of the records counter (lakegate/observe/catalogue.py: AUDITED & co). */
enum Outcome {
    AUDITED("audited"),
    QUARANTINED("quarantined"),
    DEDUPLICATED("deduplicated");

    final String label;

    Outcome(String label) {
        this.label = label;
    }
}
