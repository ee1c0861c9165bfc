package io.lakegate.flink.resume;

import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * The coverage journal (docs/resume.md): for each checkpoint of a job, one small JSON file per pack subtask,
 * {@code <folder>/<job id>/<checkpoint>-<subtask>.json}, saying up to which source offset, per partition,
 * that subtask had read when the checkpoint's barrier passed ({@code covered}), and what each sink held when
 * the job (or the one it was restored from) started fresh ({@code held}). Checkpoint 0 is the job's start. Written in
 * the checkpoint's synchronous phase, so it exists before any sink commits that checkpoint; Iceberg sinks
 * tag each commit with its job id and checkpoint, which joins a table to the offsets it holds.
 */
public final class Journal {

    /** Files of checkpoints this far behind the one written are deleted by the subtask that wrote them. */
    public static final long KEEP = 200;

    private final Path folder;
    private final String jobId;
    private final int subtask;
    private final int parallelism;

    public Journal(String folder, String jobId, int subtask, int parallelism) {
        this.folder = new Path(new Path(folder), jobId);
        this.jobId = jobId;
        this.subtask = subtask;
        this.parallelism = parallelism;
    }

    private Path file(long checkpoint) {
        return new Path(folder, checkpoint + "-" + subtask + ".json");
    }

    /**
     * Writes checkpoint {@code checkpoint}'s entry ({@code restored}: whether the job started from a
     * checkpoint or savepoint; meaningful for checkpoint 0) atomically: to a temporary name, then renamed.
     */
    public void write(long checkpoint, boolean restored, Map<String, Map<Integer, Long>> covered,
            Map<String, Map<String, Map<Integer, Long>>> held) throws IOException {
        StringBuilder json = new StringBuilder(256);
        json.append("{\"job\":\"").append(jobId).append("\",\"checkpoint\":").append(checkpoint)
                .append(",\"subtask\":").append(subtask).append(",\"parallelism\":").append(parallelism)
                .append(",\"restored\":").append(restored)
                .append(",\"written_ms\":").append(System.currentTimeMillis()).append(",\"covered\":");
        offsets(json, covered).append(",\"held\":{");
        boolean firstSink = true;
        for (Map.Entry<String, Map<String, Map<Integer, Long>>> sink : new TreeMap<>(held).entrySet()) {
            if (!firstSink) {
                json.append(',');
            }
            firstSink = false;
            offsets(quote(json, sink.getKey()).append(':'), sink.getValue());
        }
        json.append("}}\n");
        Path target = file(checkpoint);
        Path partial = new Path(folder, "." + checkpoint + "-" + subtask + ".json.partial");
        FileSystem fs = target.getFileSystem();
        fs.mkdirs(folder);
        try (FSDataOutputStream out = fs.create(partial, FileSystem.WriteMode.OVERWRITE)) {
            out.write(json.toString().getBytes(StandardCharsets.UTF_8));
            out.sync();
        }
        if (!fs.rename(partial, target)) {
            throw new IOException("could not rename " + partial + " to " + target);
        }
        if (checkpoint > KEEP) {
            fs.delete(file(checkpoint - KEEP), false);
        }
    }

    /** {"topic": {"partition": offset, ...}, ...} */
    private static StringBuilder offsets(StringBuilder json, Map<String, Map<Integer, Long>> byTopic) {
        json.append('{');
        boolean firstTopic = true;
        for (Map.Entry<String, Map<Integer, Long>> topic : new TreeMap<>(byTopic).entrySet()) {
            if (!firstTopic) {
                json.append(',');
            }
            firstTopic = false;
            quote(json, topic.getKey()).append(":{");
            boolean firstPartition = true;
            for (Map.Entry<Integer, Long> p : new TreeMap<>(topic.getValue()).entrySet()) {
                if (!firstPartition) {
                    json.append(',');
                }
                firstPartition = false;
                json.append('"').append(p.getKey()).append("\":").append(p.getValue());
            }
            json.append('}');
        }
        return json.append('}');
    }

    private static StringBuilder quote(StringBuilder out, String text) {
        out.append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"');
    }
}
