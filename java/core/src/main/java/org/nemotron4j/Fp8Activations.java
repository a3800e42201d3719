package org.nemotron4j;

import java.util.Locale;

/**
 * What the matrix multiplications over FP8 (e4m3) weights do with their activations, for ModelOpt FP8 checkpoints
 * (weights with a {@code weight_scale} and a static {@code input_scale}).
 *
 * <ul>
 *   <li>{@link #WEIGHT_ONLY} (the default): the activations keep their precision and {@code input_scale} is
 *       ignored: the FP8 weights are multiplied as what they are, exactly as the FP8 golden outputs are computed.</li>
 *   <li>{@link #W8A8}: the activations entering a weight with {@code input_scale > 0} are quantized to e4m3 with it
 *       (x / input_scale rounded to nearest even, saturated to +-448), e4m3 by e4m3 products are accumulated in F32
 *       and scaled by {@code weight_scale * input_scale}: what FP8 inference servers do (native
 *       {@code N4J_FLAG_FP8_W8A8}). On CUDA it runs the FP8 tensor-core GEMMs (compute capability 8.9 or newer; the
 *       load fails on older GPUs); on the CPU it is the same arithmetic with the CPU's kernels. It moves the logits
 *       (about 10% of max |logit| on the random-weight fixtures), hence an explicit choice. Weights of other types
 *       are not affected.</li>
 * </ul>
 */
public enum Fp8Activations {
    WEIGHT_ONLY,
    W8A8;

    /** "weight-only" or "w8a8" (any case); an error names the accepted values. */
    public static Fp8Activations parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "weight-only" -> WEIGHT_ONLY;
            case "w8a8" -> W8A8;
            default -> throw new NemotronException("fp8 must be weight-only or w8a8, got \"" + s + "\"");
        };
    }

    /** "weight-only" or "w8a8", as the CLI spells it. */
    public String label() {
        return this == W8A8 ? "w8a8" : "weight-only";
    }
}
