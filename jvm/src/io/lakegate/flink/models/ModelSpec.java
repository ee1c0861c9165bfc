package io.lakegate.flink.models;

import io.lakegate.flink.plan.Plan;
import io.lakegate.flink.wire.ReaderBody;

import java.util.List;

/**
 * One read model of the plan, checked and compiled for the operator: per column its kind, source and index;
 * which columns are the key (all a delete row holds); the changelog JSON's fields; the body layout of its
 * contract; for an aggregate its measures and fold. Built once per task from the plan; a plan this package
 * cannot run is a {@link ModelPlanError} here, not a surprise per record.
 */
public final class ModelSpec {

    private final int index;
    private final String name;
    private final boolean current;
    private final int treatedCount;
    private final ReaderBody body;
    private final String[] columnNames;
    private final ColumnKind[] kinds;
    private final ColumnSource[] sources;
    private final int[] sourceIndexes;
    private final boolean[] key;
    private final int[] json;
    private final byte[][] jsonNames;
    private final MeasureSpec[] measures;
    private final AggregateFold fold;

    public ModelSpec(Plan plan, int index) {
        Plan.Model model = plan.models().get(index);
        this.index = index;
        this.name = model.name();
        String where = "model '" + name + "'";
        if (!"current".equals(model.kind()) && !"aggregate".equals(model.kind())) {
            throw new ModelPlanError(where + ": unknown kind '" + model.kind() + "'");
        }
        this.current = model.isCurrent();
        if (model.contractIndex() < 0 || model.contractIndex() >= plan.contracts().size()) {
            throw new ModelPlanError(where + ": contract index " + model.contractIndex() + " out of range");
        }
        this.body = ReaderBody.of(plan.contracts().get(model.contractIndex()));
        this.treatedCount = model.treated().size();
        this.measures = measures(model, body.fieldCount(), where);
        if (current && (measures.length > 0 || model.window() != null)) {
            throw new ModelPlanError(where + ": a current model has no measures and no window");
        }
        if (!current && measures.length == 0) {
            throw new ModelPlanError(where + ": an aggregate needs measures");
        }
        this.fold = current ? null : new AggregateFold(measures, model.window());

        List<Plan.ModelColumn> columns = model.columns();
        if (columns.size() != model.tableColumns().size()) {
            throw new ModelPlanError(where + ": " + columns.size() + " columns for a table of "
                    + model.tableColumns().size());
        }
        int n = columns.size();
        columnNames = new String[n];
        kinds = new ColumnKind[n];
        sources = new ColumnSource[n];
        sourceIndexes = new int[n];
        for (int i = 0; i < n; i++) {
            Plan.ModelColumn column = columns.get(i);
            String at = where + " column '" + column.name() + "'";
            if (!column.name().equals(model.tableColumns().get(i).name())) {
                throw new ModelPlanError(at + ": the table has '" + model.tableColumns().get(i).name()
                        + "' at position " + i);
            }
            columnNames[i] = column.name();
            kinds[i] = ColumnKind.of(column.kind(), at);
            sources[i] = ColumnSource.of(column.source(), at);
            sourceIndexes[i] = sourceIndex(column, sources[i], model, at);
        }
        key = new boolean[n];
        for (int position : positions(model.key(), n, where + " key")) {
            if (sources[position].changeColumn() || sources[position] == ColumnSource.MEASURE) {
                throw new ModelPlanError(where + ": key column '" + columnNames[position] + "' is not a row value");
            }
            key[position] = true;
        }
        json = positions(model.json(), n, where + " json");
        jsonNames = new byte[json.length][];
        for (int i = 0; i < json.length; i++) {
            jsonNames[i] = JsonWriter.fieldName(columnNames[json[i]]);
        }
    }

    private static MeasureSpec[] measures(Plan.Model model, int fields, String where) {
        MeasureSpec[] out = new MeasureSpec[model.measures().size()];
        for (int i = 0; i < out.length; i++) {
            Plan.Measure m = model.measures().get(i);
            if (m.field() >= fields || m.treated() >= model.treated().size()) {
                throw new ModelPlanError(where + " measure '" + m.name() + "': field " + m.field() + " or treated "
                        + "value " + m.treated() + " out of range (" + fields + " fields, " + model.treated().size()
                        + " treated values)");
            }
            out[i] = MeasureSpec.of(m.name(), m.fn(), m.field(), m.treated(), m.kind());
        }
        return out;
    }

    private int sourceIndex(Plan.ModelColumn column, ColumnSource source, Plan.Model model, String at) {
        switch (source) {
            case FIELD:
                return inRange(column.field(), body.fieldCount(), at + " field");
            case TREATED:
                return inRange(column.treated(), model.treated().size(), at + " treated value");
            case MEASURE: {
                int m = inRange(column.measure(), measures.length, at + " measure");
                if (measures[m].kind() != ColumnKind.of(column.kind(), at)) {
                    throw new ModelPlanError(at + ": measure kind " + measures[m].kind() + " differs from the column's");
                }
                return m;
            }
            case WINDOW_START:
                if (model.window() == null) {
                    throw new ModelPlanError(at + ": window_start in a model without a window");
                }
                return -1;
            default:
                return -1;
        }
    }

    private static int inRange(int value, int size, String what) {
        if (value < 0 || value >= size) {
            throw new ModelPlanError(what + " index " + value + " out of range (" + size + ")");
        }
        return value;
    }

    private static int[] positions(List<Integer> list, int columns, String what) {
        int[] out = new int[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = inRange(list.get(i), columns, what);
        }
        return out;
    }

    public int index() {
        return index;
    }

    public String name() {
        return name;
    }

    public boolean isCurrent() {
        return current;
    }

    public int treatedCount() {
        return treatedCount;
    }

    public ReaderBody body() {
        return body;
    }

    public int columnCount() {
        return columnNames.length;
    }

    public String columnName(int column) {
        return columnNames[column];
    }

    public ColumnKind kind(int column) {
        return kinds[column];
    }

    public ColumnSource source(int column) {
        return sources[column];
    }

    /** The field, treated value or measure index of a column (-1 for the other sources). */
    public int sourceIndex(int column) {
        return sourceIndexes[column];
    }

    public boolean isKey(int column) {
        return key[column];
    }

    /** Column positions of the changelog JSON's fields, in order (not to be modified). */
    int[] json() {
        return json;
    }

    /** {@code "name":} of each JSON field, in {@link #json()} order (not to be modified). */
    byte[][] jsonNames() {
        return jsonNames;
    }

    public MeasureSpec[] measures() {
        return measures.clone();
    }

    int measureCount() {
        return measures.length;
    }

    MeasureSpec measure(int i) {
        return measures[i];
    }

    /** The aggregate's fold; null for a current model. */
    public AggregateFold fold() {
        return fold;
    }
}
