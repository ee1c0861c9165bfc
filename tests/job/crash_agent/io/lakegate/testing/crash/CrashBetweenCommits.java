package io.lakegate.testing.crash;

import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Configurator;
import org.apache.logging.log4j.core.config.Property;

import java.io.IOException;
import java.lang.instrument.Instrumentation;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A test-only Java agent (tests/job/test_resume.py): SIGKILLs its own JVM right after one sink has committed
 * a checkpoint that another sink has not, so the process dies between the two sinks' commits.
 *
 * <p>It follows the commit order through the committers' own log lines, in the logging thread. Iceberg's
 * committer logs "Preparing for commit: ... on table: T ..." before a commit and "Committed ... to table: T,
 * branch: B, checkpointId N in M ms" after it; Kafka's committer logs "Committing Kafka transaction ID"
 * (debug, enabled here; the id ends with the checkpoint) before a commit and nothing after it. Once both
 * sinks have committed {@code minCheckpoint - 1}, the second's committer is held at its next line before a
 * commit (let go after a while if the first commits nothing), so the first's next commit is one the second
 * lacks; then the process is killed: at an Iceberg
 * sink's "Committed" line, or, for a Kafka sink, {@value #KAFKA_COMMIT_MS} ms after its "Committing" line
 * (the test checks the topic then holds what the table lacks).
 *
 * <p>Agent arguments: {@code first,second,minCheckpoint,markerFile}; a sink is {@code table:<name suffix>} or
 * {@code kafka:<transactional id infix>}. The marker file receives what was committed before the kill.
 */
public final class CrashBetweenCommits extends AbstractAppender {

    private static final Pattern COMMITTED =
            Pattern.compile("Committed \\w+ to table: (\\S+), branch: \\S+, checkpointId (\\d+) in");
    private static final Pattern PREPARING = Pattern.compile("Preparing for commit: .* on table: (\\S+) branch");
    private static final Pattern KAFKA_COMMITTING = Pattern.compile("Committing Kafka transaction (\\S+)");
    private static final String KAFKA_COMMITTER = "org.apache.flink.connector.kafka.sink.internal.KafkaCommitter";
    /** How long the second sink's committer is held for the first's commit; then it is let go (the first may
     * have had nothing to commit in that checkpoint) and held again before its next commit. */
    private static final long HOLD_MS = 5_000;
    /** How long a Kafka transaction's commit is given after its "Committing" line. */
    static final long KAFKA_COMMIT_MS = 3_000;

    private final String[] first;
    private final String[] second;
    private final long minCheckpoint;
    private final Path marker;
    private final Map<String, Long> committed = new HashMap<>();
    private volatile boolean holding;

    private CrashBetweenCommits(String first, String second, long minCheckpoint, Path marker) {
        super("crash-between-commits", null, null, true, Property.EMPTY_ARRAY);
        this.first = first.split(":", 2);
        this.second = second.split(":", 2);
        this.minCheckpoint = minCheckpoint;
        this.marker = marker;
    }

    public static void premain(String args, Instrumentation instrumentation) {
        String[] parts = args.split(",");
        CrashBetweenCommits appender = new CrashBetweenCommits(
                parts[0], parts[1], Long.parseLong(parts[2]), Path.of(parts[3]));
        appender.start();
        LoggerContext context = (LoggerContext) LogManager.getContext(false);
        context.getConfiguration().getRootLogger().addAppender(appender, null, null);
        context.updateLoggers();
        Configurator.setLevel(KAFKA_COMMITTER, Level.DEBUG);
    }

    private static boolean isTable(String[] sink) {
        return sink[0].equals("table");
    }

    @Override
    public void append(LogEvent event) {
        String message = event.getMessage().getFormattedMessage();
        Matcher table = COMMITTED.matcher(message);
        Matcher kafka = KAFKA_COMMITTING.matcher(message);
        Matcher preparing = PREPARING.matcher(message);
        String sink;
        long checkpoint;
        if (table.find()) {
            sink = "table:" + table.group(1);
            checkpoint = Long.parseLong(table.group(2));
        } else if (kafka.find()) { // the transactional id ends with -<subtask>-<checkpoint>
            String id = kafka.group(1);
            sink = "kafka:" + id.substring(0, id.lastIndexOf('-'));
            checkpoint = Long.parseLong(id.substring(id.lastIndexOf('-') + 1));
            if (matches(second, sink)) {
                beforeSecondCommits(checkpoint);
            }
        } else {
            if (preparing.find() && matches(second, "table:" + preparing.group(1))) {
                beforeSecondCommits(committedBy(second) + 1);
            }
            return;
        }
        synchronized (committed) {
            committed.merge(sink, checkpoint, Math::max);
        }
        if (holding && matches(first, sink) && checkpoint > committedBy(second)) {
            killAfterFirst("first=" + sink + " checkpoint=" + checkpoint);
        }
    }

    private static boolean matches(String[] spec, String sink) {
        return sink.startsWith(spec[0] + ":")
                && (spec[0].equals("table") ? sink.endsWith(spec[1]) : sink.contains(spec[1]));
    }

    /** In the second sink's committer, right before it commits {@code checkpoint}. */
    private void beforeSecondCommits(long checkpoint) {
        if (!ready()) {
            return;
        }
        holding = true; // the second sink's committer waits here, before its commit, until the kill
        if (committedBy(first) >= checkpoint) { // the first committed this checkpoint already
            killAfterFirst("first at " + committedBy(first) + " when the second was held before " + checkpoint);
        }
        sleep(HOLD_MS);
        holding = false; // the first had nothing to commit this round: let the second go, hold it next round
    }

    /** Kills the process once the first sink's commit is done: at once after an Iceberg commit's line, a
     * while after a Kafka commit's (which comes before it). */
    private void killAfterFirst(String what) {
        String marked = what + " second_at=" + committedBy(second);
        if (isTable(first)) {
            kill(marked);
            return;
        }
        Thread killer = new Thread(() -> {
            sleep(KAFKA_COMMIT_MS);
            kill(marked);
        });
        killer.setDaemon(true);
        killer.start();
    }

    /** Both sinks have committed minCheckpoint - 1. */
    private boolean ready() {
        return Math.min(committedBy(first), committedBy(second)) >= minCheckpoint - 1;
    }

    private long committedBy(String[] spec) {
        synchronized (committed) {
            return committed.entrySet().stream().filter(e -> matches(spec, e.getKey()))
                    .mapToLong(Map.Entry::getValue).max().orElse(-1);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Writes {@code what} and the commits seen to the marker file, then SIGKILLs this process. */
    private synchronized void kill(String what) {
        try {
            synchronized (committed) {
                Files.writeString(marker, what + " committed=" + committed + "\n", StandardCharsets.UTF_8);
            }
            // SIGKILL, as an operator's kill -9 would; this thread waits for it.
            new ProcessBuilder("kill", "-KILL", Long.toString(ProcessHandle.current().pid())).start().waitFor();
            Thread.sleep(60_000);
        } catch (IOException | InterruptedException e) {
            Runtime.getRuntime().halt(137);
        }
        Runtime.getRuntime().halt(137);
    }
}
