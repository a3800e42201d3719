package org.nemotron4j;

import org.nemotron4j.quant.QuantPolicy;
import org.nemotron4j.quant.QuantType;

/**
 * How a model is loaded.
 *
 * @param prefillChunk tokens per prefill step: bounds activation memory (the workspace holds this many rows); 0 for
 *                     the device's default: {@value #DEFAULT_PREFILL_CHUNK} on the CPU, {@value #DEFAULT_GPU_PREFILL_CHUNK}
 *                     on CUDA (each weight matrix is read once per chunk, and a GPU needs long chunks to fill its
 *                     SMs), halved at load while the workspace would take more than a quarter of the device memory
 *                     the weights leave free (the model says so on the {@code org.nemotron4j} logger)
 * @param progress     called while weights are prepared (bytes done, bytes total); may be null
 * @param kvCacheDtype element type of the sessions' KV caches, {@link DType#F32} or {@link DType#BF16}; null for
 *                     the backend's default (F32 on the CPU, where the engine is exact to the golden fixtures;
 *                     BF16 on CUDA, half the memory: 2 GiB for Nemotron-Nano-9B-v2 at 131072 tokens)
 * @param activationDtype element type of the activations between kernels (projections, conv states, norms,
 *                     logits), {@link DType#F32} or {@link DType#BF16}; the residual stream, SSM states and all
 *                     accumulation stay F32. Null for the backend's default: F32 on the CPU (its kernels compute
 *                     in F32; BF16 there rounds every activation between F32 kernels, which checks the BF16 data
 *                     path: 2.4e-2 x max|logit| from the golden fixtures, whose bf16 criterion is 3e-2), BF16 on
 *                     CUDA (half the activation bytes; tensor-core GEMMs take one bf16 product instead of two)
 * @param matmulDtype  the type the matrix multiplications over BF16 and FP8 weights round their inputs to:
 *                     {@link DType#F32} (exact) or {@link DType#BF16}. On a CPU with AVX512-BF16, BF16 multiplies with
 *                     BF16 dot-product instructions (about twice the F32 rate; what GPU tensor cores and llama.cpp's
 *                     CPU backend do); on other CPUs and on CUDA it changes nothing. Null for the default: the
 *                     activation type in {@link Precision#EXACT} mode, BF16 in {@link Precision#FAST} mode
 * @param precision    {@link Precision#FAST} or {@link Precision#EXACT}: the defaults of the matmul input type and of
 *                     the CPU's KV cache type (explicit types above win); null for the default, FAST
 * @param memoryMap    true (the default): the safetensors files are memory-mapped, zero-copy on the CPU; they must
 *                     then not be changed while the model is open (a file truncated under a mapping kills the JVM
 *                     with SIGBUS: replace checkpoint files by renaming, as {@code SafetensorsWriter} does). False:
 *                     each file is read once into native memory (its size in RAM, slower to load), so later changes
 *                     to the files cannot affect the model
 * @param checkTensors true: every weight is read once at load and a NaN or infinite value is refused with an error
 *                     naming the tensor and the element (llama.cpp's {@code --check-tensors}); it costs one pass
 *                     over the weights. False (the default): no such pass
 * @param cudaGraphs   true (the default): on CUDA each decode step of a batch size is captured once as a CUDA graph
 *                     and replayed (one copy of the step's small inputs and one launch per step, instead of a
 *                     launch per kernel). False: every decode step runs its kernels eagerly, with the same work
 *                     split (the fallback, and for debugging). No effect on the CPU
 * @param quantize     null (the default): the weights run in their stored types. Otherwise quantize-on-load: the
 *                     Linear weights the policy names are block-quantized ({@link QuantType}, as {@code nemotron4j
 *                     quantize} writes them) into memory the model owns while the model loads, from a BF16, F16,
 *                     F32 or ModelOpt FP8 checkpoint, with all threads; the mapped originals of those weights are
 *                     then no longer read. For users who keep only the original checkpoint; quantizing once with
 *                     {@code nemotron4j quantize} loads faster. The model's {@link NemotronModel#config()} records
 *                     the result in its {@code quantization_config}. On CUDA the weights are quantized on the
 *                     host and uploaded. A checkpoint that is already block-quantized is refused
 * @param fp8Activations what matmuls over FP8 weights with a ModelOpt {@code input_scale} do with their activations:
 *                     {@link Fp8Activations#WEIGHT_ONLY} (keep their precision) or {@link Fp8Activations#W8A8}
 *                     (quantize them to e4m3 with the input scale; FP8 tensor cores on CUDA, compute capability 8.9+).
 *                     Null for the default, weight-only. No effect on other weight types
 */
public record LoadOptions(int prefillChunk, Progress progress, DType kvCacheDtype, DType activationDtype,
                          DType matmulDtype, Precision precision, boolean memoryMap, boolean checkTensors,
                          boolean cudaGraphs, QuantPolicy quantize, Fp8Activations fp8Activations) {
    /** The CPU's prefill chunk. */
    public static final int DEFAULT_PREFILL_CHUNK = 256;
    /** CUDA's prefill chunk (before the reduction for memory). */
    public static final int DEFAULT_GPU_PREFILL_CHUNK = 2048;

    /** Progress of a long operation, in bytes or items. */
    @FunctionalInterface
    public interface Progress {
        void update(long done, long total);
    }

    public LoadOptions {
        if (prefillChunk < 0 || prefillChunk > 65536) {
            throw new NemotronException("prefillChunk must be in [1, 65536] (or 0 for the device's default), got "
                    + prefillChunk);
        }
        if (kvCacheDtype != null && kvCacheDtype != DType.F32 && kvCacheDtype != DType.BF16) {
            throw new NemotronException("kvCacheDtype must be F32 or BF16, got " + kvCacheDtype);
        }
        if (activationDtype != null && activationDtype != DType.F32 && activationDtype != DType.BF16) {
            throw new NemotronException("activationDtype must be F32 or BF16, got " + activationDtype);
        }
        if (matmulDtype != null && matmulDtype != DType.F32 && matmulDtype != DType.BF16) {
            throw new NemotronException("matmulDtype must be F32 or BF16, got " + matmulDtype);
        }
    }

    /** All components but {@code fp8Activations} (the default, weight-only). */
    public LoadOptions(int prefillChunk, Progress progress, DType kvCacheDtype, DType activationDtype,
                       DType matmulDtype, Precision precision, boolean memoryMap, boolean checkTensors,
                       boolean cudaGraphs, QuantPolicy quantize) {
        this(prefillChunk, progress, kvCacheDtype, activationDtype, matmulDtype, precision, memoryMap, checkTensors,
                cudaGraphs, quantize, null);
    }

    /** All components but {@code quantize} (none) and {@code fp8Activations} (weight-only). */
    public LoadOptions(int prefillChunk, Progress progress, DType kvCacheDtype, DType activationDtype,
                       DType matmulDtype, Precision precision, boolean memoryMap, boolean checkTensors,
                       boolean cudaGraphs) {
        this(prefillChunk, progress, kvCacheDtype, activationDtype, matmulDtype, precision, memoryMap, checkTensors,
                cudaGraphs, null);
    }

    /** All components but {@code cudaGraphs}, which is on, and {@code quantize} (none). */
    public LoadOptions(int prefillChunk, Progress progress, DType kvCacheDtype, DType activationDtype,
                       DType matmulDtype, Precision precision, boolean memoryMap, boolean checkTensors) {
        this(prefillChunk, progress, kvCacheDtype, activationDtype, matmulDtype, precision, memoryMap, checkTensors,
                true);
    }

    /** The first four components; default matmul type and precision; mapped, unchecked weights. */
    public LoadOptions(int prefillChunk, Progress progress, DType kvCacheDtype, DType activationDtype) {
        this(prefillChunk, progress, kvCacheDtype, activationDtype, null);
    }

    /** The first five components; the default precision; mapped, unchecked weights. */
    public LoadOptions(int prefillChunk, Progress progress, DType kvCacheDtype, DType activationDtype,
                       DType matmulDtype) {
        this(prefillChunk, progress, kvCacheDtype, activationDtype, matmulDtype, null, true, false);
    }

    /** The default options: {@link Precision#FAST}, element types from the precision and the device. */
    public static LoadOptions defaults() {
        return new LoadOptions(0, null, null, null, null, null, true, false);
    }

    /** The default options in {@link Precision#EXACT} mode: exact to the golden fixtures (1e-4) on every CPU. */
    public static LoadOptions exact() {
        return defaults().withPrecision(Precision.EXACT);
    }

    /** The precision in effect: {@link #precision()}, or FAST when it is null. */
    public Precision effectivePrecision() {
        return precision != null ? precision : Precision.FAST;
    }

    /** The precision mode (null restores the default, FAST). */
    public LoadOptions withPrecision(Precision p) {
        return new LoadOptions(prefillChunk, progress, kvCacheDtype, activationDtype, matmulDtype, p, memoryMap,
                checkTensors, cudaGraphs, quantize, fp8Activations);
    }

    public LoadOptions withPrefillChunk(int tokens) {
        return new LoadOptions(tokens, progress, kvCacheDtype, activationDtype, matmulDtype, precision, memoryMap,
                checkTensors, cudaGraphs, quantize, fp8Activations);
    }

    public LoadOptions withProgress(Progress p) {
        return new LoadOptions(prefillChunk, p, kvCacheDtype, activationDtype, matmulDtype, precision, memoryMap,
                checkTensors, cudaGraphs, quantize, fp8Activations);
    }

    /** The KV cache element type (F32 or BF16); null restores the backend's default. */
    public LoadOptions withKvCacheDtype(DType dtype) {
        return new LoadOptions(prefillChunk, progress, dtype, activationDtype, matmulDtype, precision, memoryMap,
                checkTensors, cudaGraphs, quantize, fp8Activations);
    }

    /** The activation element type (F32 or BF16); null restores the backend's default. */
    public LoadOptions withActivationDtype(DType dtype) {
        return new LoadOptions(prefillChunk, progress, kvCacheDtype, dtype, matmulDtype, precision, memoryMap,
                checkTensors, cudaGraphs, quantize, fp8Activations);
    }

    /** The matmul input type (F32 or BF16); null restores the default (the activation type). */
    public LoadOptions withMatmulDtype(DType dtype) {
        return new LoadOptions(prefillChunk, progress, kvCacheDtype, activationDtype, dtype, precision, memoryMap,
                checkTensors, cudaGraphs, quantize, fp8Activations);
    }

    /** The FP8 activation mode ({@link Fp8Activations}); null restores the default, weight-only. */
    public LoadOptions withFp8Activations(Fp8Activations mode) {
        return new LoadOptions(prefillChunk, progress, kvCacheDtype, activationDtype, matmulDtype, precision, memoryMap,
                checkTensors, cudaGraphs, quantize, mode);
    }

    /** The FP8 activation mode in effect: {@link #fp8Activations()}, or WEIGHT_ONLY when it is null. */
    public Fp8Activations effectiveFp8Activations() {
        return fp8Activations != null ? fp8Activations : Fp8Activations.WEIGHT_ONLY;
    }

    /** Memory-map the safetensors files (true, the default) or read them into native memory (false). */
    public LoadOptions withMemoryMap(boolean map) {
        return new LoadOptions(prefillChunk, progress, kvCacheDtype, activationDtype, matmulDtype, precision, map,
                checkTensors, cudaGraphs, quantize, fp8Activations);
    }

    /** Check every weight for NaN and infinite values at load (false by default). */
    public LoadOptions withCheckTensors(boolean check) {
        return new LoadOptions(prefillChunk, progress, kvCacheDtype, activationDtype, matmulDtype, precision, memoryMap,
                check, cudaGraphs, quantize, fp8Activations);
    }

    /** Decode steps on CUDA as CUDA graphs (true, the default) or eagerly (false). */
    public LoadOptions withCudaGraphs(boolean graphs) {
        return new LoadOptions(prefillChunk, progress, kvCacheDtype, activationDtype, matmulDtype, precision, memoryMap,
                checkTensors, graphs, quantize, fp8Activations);
    }

    /**
     * Quantize-on-load with the type's default policy ({@link QuantPolicy#defaultFor}, as {@code nemotron4j quantize});
     * null turns it off.
     */
    public LoadOptions withQuantize(QuantType type) {
        return withQuantize(type, type == null ? null : QuantPolicy.defaultFor(type));
    }

    /**
     * Quantize-on-load: the Linear weights {@code policy} names (the syntax of {@code nemotron4j quantize --policy},
     * {@link QuantPolicy}) in {@code type}; a null type turns it off. A bad policy is refused here.
     */
    public LoadOptions withQuantize(QuantType type, String policy) {
        QuantPolicy q = type == null ? null : QuantPolicy.parse(policy, type);
        return new LoadOptions(prefillChunk, progress, kvCacheDtype, activationDtype, matmulDtype, precision, memoryMap,
                checkTensors, cudaGraphs, q, fp8Activations);
    }
}
