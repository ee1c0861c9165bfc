package io.lakegate.flink.wire;

import io.lakegate.flink.plan.Plan;

import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;

import java.io.Serializable;
import java.util.Arrays;
import java.util.List;

/**
 * Reads a record's Avro body written with its contract's reader schema (a flat record: primitive, enum,
 * timestamp-millis and two-branch ["null", T] union fields; docs/hotpath.md) into Flink's internal values.
 *
 * <p>Strict where fastavro is not: an enum index or union branch index out of range (negative ones included)
 * is a {@link CorruptBody} naming the field, never another symbol or branch; so is a truncated body, a
 * length running past the end, invalid UTF-8 in a string, and bytes left after the last field.
 *
 * <p>Values per field, by Avro base type: string and enum → {@link StringData}, boolean → Boolean, int →
 * Integer, long → Long (a field whose table column is timestamp_ms → {@link TimestampData}), float → Float,
 * double → Double, bytes → byte[]; null for a null union branch.
 */
public final class ReaderBody implements Serializable {

    private static final long serialVersionUID = 1L;

    private enum Type { STRING, BOOLEAN, INT, LONG, TIMESTAMP_MS, FLOAT, DOUBLE, BYTES, ENUM }

    private final String[] names;
    private final Type[] types;
    private final int[] nullBranches;
    private final StringData[][] symbols;

    /** The body layout of {@code contract}'s reader schema ({@code fields}, with the table's column kinds). */
    public static ReaderBody of(Plan.Contract contract) {
        return new ReaderBody(contract.fields(), contract.tableColumns());
    }

    public ReaderBody(List<Plan.Field> fields, List<Plan.Column> tableColumns) {
        int n = fields.size();
        names = new String[n];
        types = new Type[n];
        nullBranches = new int[n];
        symbols = new StringData[n][];
        for (int i = 0; i < n; i++) {
            Plan.Field field = fields.get(i);
            names[i] = field.name();
            nullBranches[i] = field.nullBranch();
            if (field.nullBranch() != -1 && field.nullBranch() != 0 && field.nullBranch() != 1) {
                throw new IllegalArgumentException(field.name() + ": null_branch must be 0, 1 or null");
            }
            String kind = tableColumns.get(field.column()).kind();
            types[i] = type(field.avro(), kind, field.name());
            if (types[i] == Type.ENUM) {
                symbols[i] = field.symbols().stream().map(StringData::fromString).toArray(StringData[]::new);
                if (symbols[i].length == 0) {
                    throw new IllegalArgumentException(field.name() + ": an enum needs symbols");
                }
            }
        }
    }

    private static Type type(String avro, String columnKind, String name) {
        switch (avro) {
            case "string": return Type.STRING;
            case "boolean": return Type.BOOLEAN;
            case "int": return Type.INT;
            case "long": return "timestamp_ms".equals(columnKind) ? Type.TIMESTAMP_MS : Type.LONG;
            case "float": return Type.FLOAT;
            case "double": return Type.DOUBLE;
            case "bytes": return Type.BYTES;
            case "enum": return Type.ENUM;
            default: throw new IllegalArgumentException(name + ": unsupported Avro type " + avro);
        }
    }

    public int fieldCount() {
        return names.length;
    }

    public String fieldName(int index) {
        return names[index];
    }

    /** The values of the body at {@code bytes[offset, offset + length)}, one per reader field. */
    public Object[] decode(byte[] bytes, int offset, int length) throws CorruptBody {
        Object[] values = new Object[names.length];
        read(bytes, offset, length, values);
        return values;
    }

    /** Checks the body without keeping its values (the same checks as {@link #decode}). */
    public void check(byte[] bytes, int offset, int length) throws CorruptBody {
        read(bytes, offset, length, null);
    }

    private void read(byte[] bytes, int offset, int length, Object[] values) throws CorruptBody {
        Cursor in = new Cursor(bytes, offset, offset + length);
        int i = 0;
        try {
            for (; i < names.length; i++) {
                int nullBranch = nullBranches[i];
                if (nullBranch >= 0) {
                    long branch = in.varint();
                    if (branch != 0 && branch != 1) {
                        throw new CorruptBody(names[i], "union branch index " + branch
                                + " is out of range for '" + names[i] + "' (2 branches)");
                    }
                    if (branch == nullBranch) {
                        continue; // values start out null
                    }
                }
                Object value = in.read(types[i], symbols[i], names[i], values != null);
                if (values != null) {
                    values[i] = value;
                }
            }
        } catch (IndexOutOfBoundsException e) {
            throw new CorruptBody(i < names.length ? names[i] : null, "the body ends inside '"
                    + (i < names.length ? names[i] : "?") + "' (truncated)");
        }
        if (in.position != in.end) {
            throw new CorruptBody(null, (in.end - in.position) + " bytes left after the body");
        }
    }

    /** Avro's binary encoding (zig-zag varints, little-endian floats), bounded by {@code end}. */
    private static final class Cursor {
        private final byte[] bytes;
        private final int end;
        private int position;

        Cursor(byte[] bytes, int position, int end) {
            this.bytes = bytes;
            this.position = position;
            this.end = end;
        }

        Object read(Type type, StringData[] symbols, String name, boolean keep) throws CorruptBody {
            switch (type) {
                case STRING: {
                    int length = length(name);
                    if (!Utf8.valid(bytes, position, length)) {
                        throw new CorruptBody(name, "'" + name + "' is not valid UTF-8");
                    }
                    Object text = keep ? StringData.fromBytes(Arrays.copyOfRange(bytes, position, position + length))
                            : null;
                    position += length;
                    return text;
                }
                case BOOLEAN: {
                    int b = next();
                    if (b != 0 && b != 1) {
                        throw new CorruptBody(name, "'" + name + "' holds " + b + ", not a boolean");
                    }
                    return b == 1;
                }
                case INT: {
                    long value = varint();
                    if (value != (int) value) {
                        throw new CorruptBody(name, "'" + name + "' does not fit an int");
                    }
                    return (int) value;
                }
                case LONG:
                    return varint();
                case TIMESTAMP_MS: {
                    long millis = varint();
                    return keep ? TimestampData.fromEpochMillis(millis) : null;
                }
                case FLOAT:
                    return Float.intBitsToFloat((int) littleEndian(4));
                case DOUBLE:
                    return Double.longBitsToDouble(littleEndian(8));
                case BYTES: {
                    int length = length(name);
                    byte[] copy = keep ? Arrays.copyOfRange(bytes, position, position + length) : null;
                    position += length;
                    return copy;
                }
                case ENUM: {
                    long index = varint();
                    if (index < 0 || index >= symbols.length) {
                        throw new CorruptBody(name, "enum index " + index + " is out of range for '" + name
                                + "' (" + symbols.length + " symbols)");
                    }
                    return symbols[(int) index];
                }
                default:
                    throw new IllegalStateException("unhandled type " + type);
            }
        }

        private int next() {
            if (position >= end) {
                throw new IndexOutOfBoundsException();
            }
            return bytes[position++] & 0xff;
        }

        private int length(String name) throws CorruptBody {
            long length = varint();
            if (length < 0 || length > end - position) {
                throw new CorruptBody(name, "length " + length + " of '" + name + "' runs past the end of the body");
            }
            return (int) length;
        }

        long varint() throws CorruptBody {
            long raw = 0;
            int shift = 0;
            int b;
            do {
                if (shift > 63) {
                    throw new CorruptBody(null, "a varint is longer than 10 bytes");
                }
                b = next();
                raw |= (long) (b & 0x7f) << shift;
                shift += 7;
            } while ((b & 0x80) != 0);
            return (raw >>> 1) ^ -(raw & 1);
        }

        private long littleEndian(int size) {
            if (size > end - position) {
                throw new IndexOutOfBoundsException();
            }
            long value = 0;
            for (int i = 0; i < size; i++) {
                value |= (long) (bytes[position + i] & 0xff) << (8 * i);
            }
            position += size;
            return value;
        }
    }

    /** The body does not follow the reader schema; {@code field} names where, when known. */
    public static final class CorruptBody extends Exception {
        private static final long serialVersionUID = 1L;
        private final String field;

        public CorruptBody(String field, String message) {
            super(message, null, false, false); // no stack trace: this is data, not a bug
            this.field = field;
        }

        public String field() {
            return field;
        }
    }

    /** Strict UTF-8 validation (no overlongs, no surrogates, nothing above U+10FFFF), as Python decodes. */
    static final class Utf8 {
        private Utf8() {}

        static boolean valid(byte[] b, int offset, int length) {
            int i = offset;
            int end = offset + length;
            while (i < end) {
                int c = b[i] & 0xff;
                if (c < 0x80) {
                    i++;
                    continue;
                }
                int need;
                int min;
                if (c >= 0xc2 && c <= 0xdf) {
                    need = 1;
                    min = 0x80;
                } else if (c >= 0xe0 && c <= 0xef) {
                    need = 2;
                    min = 0x800;
                } else if (c >= 0xf0 && c <= 0xf4) {
                    need = 3;
                    min = 0x10000;
                } else {
                    return false;
                }
                if (i + need >= end) {
                    return false; // the sequence runs past the end
                }
                int cp = c & (0x3f >> need);
                for (int k = 1; k <= need; k++) {
                    int cc = b[i + k] & 0xff;
                    if ((cc & 0xc0) != 0x80) {
                        return false;
                    }
                    cp = (cp << 6) | (cc & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                    return false;
                }
                i += need + 1;
            }
            return true;
        }
    }
}
