package io.lakegate.flink.models;

/**
 * A key's stored state does not decode as this version of {@link StateCodec} writes it, or does not fit its
 * model (another kind, another number of measures): the state was written for another model definition.
 * Rebuild the model (`lakegate readmodels rebuild`) and start the job without that state.
 */
public final class CorruptModelState extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public CorruptModelState(String message) {
        super(message);
    }
}
