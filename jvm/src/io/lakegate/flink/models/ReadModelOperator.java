package io.lakegate.flink.models;

import io.lakegate.flink.metrics.LabelledCounters;
import io.lakegate.flink.plan.Plan;

import org.apache.flink.api.common.operators.ProcessingTimeService.ProcessingTimeCallback;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.tasks.ProcessingTimeService;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.util.OutputTag;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The {@code read_models} operator: model events keyed by {@link ModelEventKey} → {@link ReadModels} with one
 * {@code ValueState<byte[]>} per key ({@link StateCodec}) → per flushed change, the model table's row on the
 * model's side output and the changelog element on the main output; {@code changes} counted per model and
 * op.
 *
 * <p>Changes are coalesced per key and flushed every {@code plan.minibatchMs()} (a processing-time timer,
 * armed by the first pending change), before every checkpoint barrier ({@link #prepareSnapshotPreBarrier}:
 * nothing is pending in a checkpoint, so each change reaches the sinks in the checkpoint whose state made it,
 * exactly once) and at the end of input. A custom operator rather than a process function for that
 * pre-barrier hook.
 *
 * <p>A job started without a checkpoint seeds each key's state, the first time the key meets an event, from
 * the state rebuilt from the model tables ({@code plan.resume.model_state}, {@link ModelStateFile}); a
 * restored job keeps its own.
 */
public final class ReadModelOperator extends AbstractStreamOperator<byte[]>
        implements OneInputStreamOperator<byte[], byte[]>, BoundedOneInput, ProcessingTimeCallback {

    private static final long serialVersionUID = 1L;
    /** The keyed state's name (one per key; the read models of the Python job kept another layout). */
    static final String STATE = "read-model-bytes";

    private final Plan plan;
    private final ArrayList<OutputTag<RowData>> tables;

    private transient ReadModels models;
    private transient ValueState<byte[]> state;
    private transient ReadModels.KeyedBytes keyed;
    private transient ReadModels.ChangeSink sink;
    private transient ChangeCounters counters;
    private transient boolean timerArmed;
    private transient boolean restored;
    private transient Map<String, byte[]> seeds; // this subtask's keys' rebuilt state, until first used

    /** @param tables the side output of each model's table rows, by model index */
    public ReadModelOperator(Plan plan, List<OutputTag<RowData>> tables) {
        if (tables.size() != plan.models().size()) {
            throw new ModelPlanError(tables.size() + " table outputs for " + plan.models().size() + " models");
        }
        this.plan = plan;
        this.tables = new ArrayList<>(tables);
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        restored = context.isRestored();
    }

    @Override
    public void open() throws Exception {
        super.open();
        models = new ReadModels(plan);
        state = getRuntimeContext().getState(
                new ValueStateDescriptor<>(STATE, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
        seeds = Map.of();
        String file = plan.resume().modelState();
        if (!restored && !file.isEmpty()) {
            var task = getRuntimeContext().getTaskInfo();
            int maxParallelism = task.getMaxNumberOfParallelSubtasks();
            var range = KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(
                    maxParallelism, task.getNumberOfParallelSubtasks(), task.getIndexOfThisSubtask());
            seeds = ModelStateFile.read(file, key -> range.contains(
                    KeyGroupRangeAssignment.assignToKeyGroup(key, maxParallelism)));
        }
        keyed = new ReadModels.KeyedBytes() {
            @Override
            public byte[] value() throws Exception {
                byte[] value = state.value();
                if (value == null && !seeds.isEmpty()) {
                    value = seeds.remove((String) getCurrentKey());
                    if (value != null) {
                        state.update(value); // the key's state from now on, whether this event changes it or not
                    }
                }
                return value;
            }

            @Override
            public void update(byte[] value) throws Exception {
                state.update(value);
            }
        };
        String[] names = plan.models().stream().map(Plan.Model::name).toArray(String[]::new);
        counters = new ChangeCounters(new LabelledCounters(getMetricGroup()), names);
        sink = this::emit;
    }

    @Override
    public void processElement(StreamRecord<byte[]> element) throws Exception {
        models.apply(element.getValue(), getCurrentKey(), keyed);
        if (models.pending() > 0) {
            scheduleFlush();
        }
    }

    private void scheduleFlush() throws Exception {
        if (plan.minibatchMs() <= 0) {
            flush();
            return;
        }
        if (!timerArmed) {
            timerArmed = true;
            ProcessingTimeService time = getProcessingTimeService();
            time.registerTimer(time.getCurrentProcessingTime() + plan.minibatchMs(), this);
        }
    }

    @Override
    public void onProcessingTime(long time) throws Exception {
        timerArmed = false;
        flush();
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        flush();
        super.prepareSnapshotPreBarrier(checkpointId);
    }

    @Override
    public void endInput() throws Exception {
        flush();
    }

    @Override
    public void finish() throws Exception {
        flush();
        super.finish();
    }

    private void flush() throws Exception {
        if (models != null) {
            models.flush(sink);
        }
    }

    private void emit(ModelSpec model, boolean delete, GenericRowData row, byte[] changelogElement) {
        output.collect(tables.get(model.index()), new StreamRecord<>(row));
        output.collect(new StreamRecord<>(changelogElement));
        counters.count(model.index(), delete);
    }
}
