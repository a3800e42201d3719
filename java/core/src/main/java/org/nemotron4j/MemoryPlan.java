package org.nemotron4j;

import org.nemotron4j.checkpoint.NemotronHLayout;

import org.nemotron4j.quant.QuantPolicy;
import org.nemotron4j.quant.QuantType;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * What running a model takes, in bytes, before anything is allocated: the weights, the KV cache for a context
 * length (in whole {@link KvCache#BLOCK_TOKENS}-token blocks), the fixed-size Mamba states, the activation
 * workspace of one prefill chunk and the logits rows. The engine allocates exactly these pieces (a test compares
 * a session's real allocations with the plan).
 *
 * @param weights    checkpoint tensors on the device (mapped, not copied, on the CPU)
 * @param weightParts the weights by storage type, e.g. {@code q4 (Linear)} and {@code BF16 (the rest)}; they add up to
 *                   {@code weights}
 * @param kvCache    K and V of every attention layer for {@code contextLength} tokens of {@code batch} sequences
 * @param states     conv state (activation dtype) + SSM state (F32) of every Mamba layer of {@code batch} sequences
 * @param activations the workspace for one prefill chunk (or decode batch), without the logits rows
 * @param logits     the logits rows of that workspace (activation dtype)
 */
public record MemoryPlan(ModelConfig config, int contextLength, int batch, DType weightDtype, DType kvDtype,
                         DType activationDtype, int prefillChunk,
                         long weights, Map<String, Long> weightParts, long kvCache, long states, long activations,
                         long logits) {

    public MemoryPlan {
        weightParts = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(weightParts));
    }

    /**
     * Plan with the default prefill chunk and the engine's default activations for that KV dtype: F32 with an F32
     * cache (the CPU's defaults), BF16 with a BF16 cache (CUDA's).
     */
    public static MemoryPlan of(ModelConfig config, int contextLength, int batch, DType weightDtype, DType kvDtype) {
        return of(config, contextLength, batch, weightDtype, kvDtype, LoadOptions.DEFAULT_PREFILL_CHUNK);
    }

    /** Plan with the engine's default activations for the KV dtype (F32 with F32, BF16 with BF16). */
    public static MemoryPlan of(ModelConfig config, int contextLength, int batch, DType weightDtype, DType kvDtype, int prefillChunk) {
        return of(config, contextLength, batch, weightDtype, kvDtype, kvDtype == DType.F32 ? DType.F32 : DType.BF16, prefillChunk);
    }

    /**
     * @param weightDtype BF16 (every tensor 2 bytes) or F8_E4M3 (NVIDIA's FP8 checkpoints: Mamba in/out_proj and
     *                    MLP up/down in FP8 with F32 scales, everything else BF16)
     * @param kvDtype     F32 (the CPU engine) or BF16 (GPU)
     * @param activationDtype F32 (the CPU engine) or BF16 (GPU): workspace, logits and conv states
     */
    public static MemoryPlan of(ModelConfig config, int contextLength, int batch, DType weightDtype, DType kvDtype,
                                DType activationDtype, int prefillChunk) {
        return of(config, contextLength, batch, weightDtype, null, kvDtype, activationDtype, prefillChunk);
    }

    /**
     * As above, with the Linear weights {@code quantize} picks block-quantized (quantize-on-load; null for none). A
     * config whose {@code quantization_config} is a block-quantized one plans its quantized modules as stored.
     */
    public static MemoryPlan of(ModelConfig config, int contextLength, int batch, DType weightDtype,
                                QuantPolicy quantize, DType kvDtype, DType activationDtype, int prefillChunk) {
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
        if (activationDtype != DType.BF16 && activationDtype != DType.F32) {
            throw new NemotronException("activation dtype must be BF16 or F32, got " + activationDtype);
        }
        Map<String, Long> parts = weightParts(config, weightDtype, quantize);
        long weights = parts.values().stream().mapToLong(Long::longValue).sum();
        long blocks = Math.ceilDiv(contextLength, KvCache.BLOCK_TOKENS);
        long perBlock = (long) KvCache.BLOCK_TOKENS * config.numKeyValueHeads() * config.attentionHeadDim() * kvDtype.byteSize();
        long kv = (long) batch * config.count(LayerKind.ATTENTION) * 2 * blocks * perBlock;
        long states = (long) batch * config.count(LayerKind.MAMBA) * MambaState.bytes(config, activationDtype);
        int rows = Math.max(prefillChunk, batch);
        int act = activationDtype.byteSize();
        long logits = (long) rows * config.vocabSize() * act;
        long activations = Workspace.backendBytes(config, rows, act) - logits;
        return new MemoryPlan(config, contextLength, batch, weightDtype, kvDtype, activationDtype, prefillChunk, weights,
                parts, kv, states, activations, logits);
    }

    /**
     * The weights' bytes by storage type. A Linear weight is block-quantized when the config's
     * {@code quantization_config} says so (a checkpoint written by {@code nemotron4j quantize}) or when
     * {@code quantize} (quantize-on-load; may be null) picks a type for it; else it takes {@code weightDtype}
     * (F8_E4M3: NVIDIA's FP8 layout, the FP8-capable projections in e4m3 with two F32 scales, the rest BF16).
     */
    static Map<String, Long> weightParts(ModelConfig config, DType weightDtype, QuantPolicy quantize) {
        Map<String, Long> parts = new LinkedHashMap<>();
        var block = config.quantization().filter(ModelConfig.Quantization::isBlock);
        for (NemotronHLayout.Weight w : NemotronHLayout.weights(config)) {
            Optional<QuantType> q = Optional.empty();
            if (w.role().isLinear()) {
                q = block.isPresent() ? block.get().blockType(w.module()).flatMap(QuantType::find)
                        : quantize != null ? quantize.typeFor(w.role(), w.shape()[1]) : Optional.empty();
            }
            if (q.isPresent()) {
                long rows = w.shape()[0];
                long cols = w.shape()[1];
                parts.merge(q.get().id() + " (block-quantized Linear weights)",
                        rows * (q.get().quantsRowBytes(cols) + q.get().scalesRowBytes(cols)), Long::sum);
            } else if (weightDtype == DType.F8_E4M3 && w.role().fp8Capable()) {
                // e4m3 values + weight_scale + input_scale
                parts.merge(DType.F8_E4M3 + " (projections)", w.elementCount() + 2L * Float.BYTES, Long::sum);
            } else {
                DType d = weightDtype == DType.F32 ? DType.F32 : DType.BF16;
                parts.merge(d + (block.isPresent() || quantize != null || weightDtype == DType.F8_E4M3 ? " (the rest)" : ""),
                        w.elementCount() * d.byteSize(), Long::sum);
            }
        }
        return parts;
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
        if (weightParts.size() == 1) {
            m.put("weights (" + weightParts.keySet().iterator().next() + ")", weights);
        } else {
            weightParts.forEach((k, v) -> m.put("weights: " + k, v));
        }
        m.put("KV cache (" + kvDtype + ", " + config.count(LayerKind.ATTENTION) + " layers)", kvCache);
        m.put("conv (" + activationDtype + ") + SSM (F32) state, " + config.count(LayerKind.MAMBA) + " layers", states);
        m.put("activation workspace (" + Math.max(prefillChunk, batch) + " rows, " + activationDtype + ")", activations);
        m.put("logits (" + Math.max(prefillChunk, batch) + " x " + config.vocabSize() + " " + activationDtype + ")", logits);
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
