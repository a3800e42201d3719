package org.nemotron4j;

import org.nemotron4j.checkpoint.NemotronHLayout;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What running a model takes, in bytes, before anything is allocated: the weights, the KV cache for a context
 * length (in whole {@link KvCache#BLOCK_TOKENS}-token blocks), the fixed-size Mamba states, the activation
 * workspace of one prefill chunk and the logits rows. The engine allocates exactly these pieces (a test compares
 * a session's real allocations with the plan).
 *
 * @param weights    checkpoint tensors on the device (mapped, not copied, on the CPU)
 * @param kvCache    K and V of every attention layer for {@code contextLength} tokens of {@code batch} sequences
 * @param states     conv + SSM state of every Mamba layer of {@code batch} sequences (F32)
 * @param activations the workspace for one prefill chunk (or decode batch), without the logits rows
 * @param logits     the logits rows of that workspace (F32)
 */
public record MemoryPlan(ModelConfig config, int contextLength, int batch, DType weightDtype, DType kvDtype, int prefillChunk,
                         long weights, long kvCache, long states, long activations, long logits) {

    /** Plan with the default prefill chunk. */
    public static MemoryPlan of(ModelConfig config, int contextLength, int batch, DType weightDtype, DType kvDtype) {
        return of(config, contextLength, batch, weightDtype, kvDtype, LoadOptions.DEFAULT_PREFILL_CHUNK);
    }

    /**
     * @param weightDtype BF16 (every tensor 2 bytes) or F8_E4M3 (NVIDIA's FP8 checkpoints: Mamba in/out_proj and
     *                    MLP up/down in FP8 with F32 scales, everything else BF16)
     * @param kvDtype     F32 (the CPU engine) or BF16 (GPU)
     */
    public static MemoryPlan of(ModelConfig config, int contextLength, int batch, DType weightDtype, DType kvDtype, int prefillChunk) {
        if (contextLength < 1 || contextLength > config.maxPositionEmbeddings()) {
            throw new NemotronException("context length " + contextLength + " is outside [1, max_position_embeddings = "
                    + config.maxPositionEmbeddings() + "]");
        }
        if (batch < 1) {
            throw new NemotronException("batch must be >= 1, got " + batch);
        }
        if (weightDtype != DType.BF16 && weightDtype != DType.F8_E4M3 && weightDtype != DType.F32) {
            throw new NemotronException("weight dtype must be BF16, F8_E4M3 or F32, got " + weightDtype);
        }
        if (kvDtype != DType.BF16 && kvDtype != DType.F32) {
            throw new NemotronException("KV cache dtype must be BF16 or F32, got " + kvDtype);
        }
        long weights = 0;
        for (NemotronHLayout.Weight w : NemotronHLayout.weights(config)) {
            if (weightDtype == DType.F8_E4M3 && w.role().fp8Capable()) {
                weights += w.elementCount() + 2L * Float.BYTES;   // e4m3 values + weight_scale + input_scale
            } else {
                weights += w.elementCount() * (weightDtype == DType.F32 ? 4 : 2);
            }
        }
        long blocks = Math.ceilDiv(contextLength, KvCache.BLOCK_TOKENS);
        long perBlock = (long) KvCache.BLOCK_TOKENS * config.numKeyValueHeads() * config.attentionHeadDim() * kvDtype.byteSize();
        long kv = (long) batch * config.count(LayerKind.ATTENTION) * 2 * blocks * perBlock;
        long states = (long) batch * config.count(LayerKind.MAMBA) * MambaState.bytes(config);
        int rows = Math.max(prefillChunk, batch);
        long logits = (long) rows * config.vocabSize() * Float.BYTES;
        long activations = Workspace.backendBytes(config, rows) - logits;
        return new MemoryPlan(config, contextLength, batch, weightDtype, kvDtype, prefillChunk, weights, kv, states, activations, logits);
    }

    public long total() {
        return weights + kvCache + states + activations + logits;
    }

    /** Everything but the weights: what one more group of {@code batch} sessions plus the workspace take. */
    public long runtime() {
        return kvCache + states + activations + logits;
    }

    public Map<String, Long> components() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("weights (" + weightDtype + ")", weights);
        m.put("KV cache (" + kvDtype + ", " + config.count(LayerKind.ATTENTION) + " layers)", kvCache);
        m.put("conv + SSM state (F32, " + config.count(LayerKind.MAMBA) + " layers)", states);
        m.put("activation workspace (" + Math.max(prefillChunk, batch) + " rows)", activations);
        m.put("logits (" + Math.max(prefillChunk, batch) + " x " + config.vocabSize() + " F32)", logits);
        return m;
    }

    /** A table of the components and the total, in bytes and GiB. */
    public String table() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("memory plan: context %,d tokens, batch %d%n", contextLength, batch));
        for (Map.Entry<String, Long> e : components().entrySet()) {
            sb.append(String.format("  %-48s %,18d B  %9.3f GiB%n", e.getKey(), e.getValue(), e.getValue() / (double) (1L << 30)));
        }
        sb.append(String.format("  %-48s %,18d B  %9.3f GiB%n", "total", total(), total() / (double) (1L << 30)));
        return sb.toString();
    }
}
