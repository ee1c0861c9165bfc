package io.lakegate.flink.models;

/** Where a model column's value comes from (the plan's {@code source}; docs/hotpath.md, "The plan"). */
public enum ColumnSource {
    FIELD("field"),
    TREATED("treated"),
    WINDOW_START("window_start"),
    MEASURE("measure"),
    LG_OP("lg_op"),
    LG_ORDER("lg_order"),
    LG_PARTITION("lg_partition"),
    LG_OFFSET("lg_offset"),
    LG_EVENT_TIME("lg_event_time"),
    LG_TOPIC("lg_topic"),
    LG_VERSION("lg_version");

    private final String planName;

    ColumnSource(String planName) {
        this.planName = planName;
    }

    public static ColumnSource of(String planSource, String where) {
        for (ColumnSource source : values()) {
            if (source.planName.equals(planSource)) {
                return source;
            }
        }
        throw new ModelPlanError(where + ": unknown column source '" + planSource + "'");
    }

    /** Whether the value describes the change (op, order, provenance, version) rather than the row. */
    public boolean changeColumn() {
        return ordinal() >= LG_OP.ordinal();
    }
}
