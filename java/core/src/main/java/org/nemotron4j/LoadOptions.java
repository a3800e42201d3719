package org.nemotron4j;

/**
 * How a model is loaded.
 *
 * @param prefillChunk tokens per prefill step: bounds activation memory (the workspace holds this many rows)
 * @param progress     called while weights are prepared (bytes done, bytes total); may be null
 */
public record LoadOptions(int prefillChunk, Progress progress) {
    public static final int DEFAULT_PREFILL_CHUNK = 256;

    /** Progress of a long operation, in bytes or items. */
    @FunctionalInterface
    public interface Progress {
        void update(long done, long total);
    }

    public LoadOptions {
        if (prefillChunk < 1 || prefillChunk > 65536) {
            throw new NemotronException("prefillChunk must be in [1, 65536], got " + prefillChunk);
        }
    }

    public static LoadOptions defaults() {
        return new LoadOptions(DEFAULT_PREFILL_CHUNK, null);
    }

    public LoadOptions withPrefillChunk(int tokens) {
        return new LoadOptions(tokens, progress);
    }

    public LoadOptions withProgress(Progress p) {
        return new LoadOptions(prefillChunk, p);
    }
}
