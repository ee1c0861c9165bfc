package io.lakegate.flink.models;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.Path;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The read-model state a fresh start rebuilt from the model tables (lakegate/model_state.py, docs/resume.md):
 * "LGMS1", then per key a u32 length and the state key (UTF-8), a u32 length and the state bytes
 * ({@link StateCodec}'s layout). Read once per {@code read_models} subtask, keeping its own keys.
 */
final class ModelStateFile {

    private static final byte[] MAGIC = "LGMS1".getBytes(StandardCharsets.US_ASCII);

    private ModelStateFile() {}

    /** The file's states whose key {@code mine} accepts (this subtask's key groups). */
    static Map<String, byte[]> read(String uri, Predicate<String> mine) throws IOException {
        Map<String, byte[]> out = new HashMap<>();
        Path path = new Path(uri);
        try (FSDataInputStream raw = path.getFileSystem().open(path);
                DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(raw, 1 << 16))) {
            byte[] magic = new byte[MAGIC.length];
            in.readFully(magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw new IOException(uri + " is not a read-model state file (it does not start with LGMS1)");
            }
            while (true) {
                int keyLength;
                try {
                    keyLength = in.readInt();
                } catch (EOFException end) {
                    return out;
                }
                byte[] key = new byte[keyLength];
                in.readFully(key);
                byte[] state = new byte[in.readInt()];
                in.readFully(state);
                String text = new String(key, StandardCharsets.UTF_8);
                if (mine.test(text)) {
                    out.put(text, state);
                }
            }
        }
    }
}
