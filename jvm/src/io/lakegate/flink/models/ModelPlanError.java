package io.lakegate.flink.models;

/**
 * The plan describes a read model this package cannot run (an unknown source or measure function, an index
 * out of range, a measure kind that does not fit its function). Raised when the job graph is built or the
 * operator opens, never per record: the two halves of the job disagree, which is a bug to fix, not data.
 */
public final class ModelPlanError extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public ModelPlanError(String message) {
        super(message);
    }
}
