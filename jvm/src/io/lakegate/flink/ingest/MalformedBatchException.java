package io.lakegate.flink.ingest;

/**
 * A batch or segment that does not follow docs/hotpath.md's formats. Never bad data (the route turns every
 * bad record into a QUARANTINED entry) but a bug in the route or a plan, Python code and jar from different
 * checkouts: the task fails, and Flink restarts it from the last checkpoint, rather than drop or guess
 * records. Fix the code (or deploy one checkout to both halves), then let the job restart.
 */
public final class MalformedBatchException extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    public MalformedBatchException(String what, Throwable cause) {
        super(what + " — the route (Python) and this jar disagree on docs/hotpath.md's formats, or one of them"
                + " has a bug; deploy the job's Python code and jar from one checkout", cause);
    }
}
