package io.lakegate.bench;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.Set;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.avro.shaded.org.apache.avro.io.BinaryDecoder;
import org.apache.flink.avro.shaded.org.apache.avro.io.DecoderFactory;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.formats.avro.AvroDeserializationSchema;
import org.apache.flink.formats.avro.AvroRowDataDeserializationSchema;
import org.apache.flink.formats.avro.registry.confluent.RegistryAvroFormatFactory;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.format.ProjectableDecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.types.DataType;

/**
 * Flink's {@code avro-confluent} format, except that a record it cannot decode is skipped instead of
 * failing the job.
 *
 * <p>The benchmark's pure-Java Flink SQL baseline (bench/compare.py) reads the same topics as lakegate,
 * which hold deliberately bad records. Flink 2.1's {@code avro-confluent} has no
 * {@code ignore-parse-errors} option: {@code AvroRowDataDeserializationSchema.deserialize} wraps every
 * failure in an IOException and the task fails, over and over. Returning null from
 * {@code deserialize} is how Flink's own {@code json.ignore-parse-errors} drops a record: the Kafka
 * source collects only non-null rows. Same options as {@code avro-confluent}, under this identifier.
 *
 * <p>Skipping alone is not enough. The Avro deserializer reuses one buffered {@code BinaryDecoder} for
 * every record and never resets it: bytes a record leaves unread (a body that failed half-way, or
 * trailing bytes after a complete record) are read as the start of the next record's body, which then
 * fails or decodes wrong, and so on (seen in the benchmark: 113 valid records of 1,497 lost after one bad
 * record). So the decoder is reset before every record, through reflection on Flink 2.1's fields.
 */
public final class SkipInvalidAvroConfluentFormatFactory implements DeserializationFormatFactory {

    public static final String IDENTIFIER = "avro-confluent-skip-invalid";

    private final RegistryAvroFormatFactory delegate = new RegistryAvroFormatFactory();

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        DecodingFormat<DeserializationSchema<RowData>> inner =
                delegate.createDecodingFormat(context, formatOptions);
        if (!(inner instanceof ProjectableDecodingFormat)) {
            throw new IllegalStateException("expected avro-confluent to be a ProjectableDecodingFormat");
        }
        return new Skipping((ProjectableDecodingFormat<DeserializationSchema<RowData>>) inner);
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return delegate.requiredOptions();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return delegate.optionalOptions();
    }

    /** The decoding format: avro-confluent's, each runtime decoder wrapped. */
    private static final class Skipping implements ProjectableDecodingFormat<DeserializationSchema<RowData>> {
        private final ProjectableDecodingFormat<DeserializationSchema<RowData>> inner;

        Skipping(ProjectableDecodingFormat<DeserializationSchema<RowData>> inner) {
            this.inner = inner;
        }

        @Override
        public DeserializationSchema<RowData> createRuntimeDecoder(
                DynamicTableSource.Context context, DataType physicalDataType, int[][] projections) {
            return new SkipInvalid(inner.createRuntimeDecoder(context, physicalDataType, projections));
        }

        @Override
        public ChangelogMode getChangelogMode() {
            return inner.getChangelogMode();
        }
    }

    /** Decodes with the wrapped schema; a record it rejects becomes null, which the source skips. */
    private static final class SkipInvalid implements DeserializationSchema<RowData> {
        private static final long serialVersionUID = 1L;
        private final DeserializationSchema<RowData> inner;
        private transient DecoderReset reset; // set once the first record has initialised Avro

        SkipInvalid(DeserializationSchema<RowData> inner) {
            this.inner = inner;
        }

        @Override
        public void open(InitializationContext context) throws Exception {
            inner.open(context);
        }

        @Override
        public RowData deserialize(byte[] message) {
            if (reset != null) {
                reset.run();
            }
            try {
                return inner.deserialize(message);
            } catch (IOException | RuntimeException e) {
                return null;
            } finally {
                if (reset == null) {
                    reset = DecoderReset.of(inner);
                }
            }
        }

        @Override
        public boolean isEndOfStream(RowData nextElement) {
            return false;
        }

        @Override
        public TypeInformation<RowData> getProducedType() {
            return inner.getProducedType();
        }
    }

    /** Empties the reused Avro decoder's buffer: the next record is read from its own bytes only. */
    private static final class DecoderReset {
        private final InputStream stream;
        private final BinaryDecoder decoder;

        private DecoderReset(InputStream stream, BinaryDecoder decoder) {
            this.stream = stream;
            this.decoder = decoder;
        }

        static DecoderReset of(DeserializationSchema<RowData> rowSchema) {
            try {
                Field nested = AvroRowDataDeserializationSchema.class.getDeclaredField("nestedSchema");
                nested.setAccessible(true);
                Object avro = nested.get(rowSchema);
                Method getDecoder = AvroDeserializationSchema.class.getDeclaredMethod("getDecoder");
                Method getInputStream = AvroDeserializationSchema.class.getDeclaredMethod("getInputStream");
                getDecoder.setAccessible(true);
                getInputStream.setAccessible(true);
                return new DecoderReset(
                        (InputStream) getInputStream.invoke(avro), (BinaryDecoder) getDecoder.invoke(avro));
            } catch (ReflectiveOperationException | ClassCastException e) {
                throw new IllegalStateException("not the Flink 2.1 Avro deserializer this wrapper knows", e);
            }
        }

        void run() {
            // With a decoder to reuse, the factory reconfigures it in place: same stream, empty buffer.
            if (DecoderFactory.get().binaryDecoder(stream, decoder) != decoder) {
                throw new IllegalStateException("the Avro decoder could not be reset in place");
            }
        }
    }
}
