package org.nemotron4j;

import java.util.Locale;

/**
 * How closely the engine's arithmetic follows F32.
 *
 * <ul>
 *   <li>{@link #FAST} (the default): the inputs of the matrix multiplications over BF16 and FP8 weights are rounded
 *       to BF16, which lets CPUs with AVX512-BF16 use BF16 dot-product instructions (twice the F32 rate), as GPU
 *       tensor cores, bf16 inference in transformers and llama.cpp's CPU backend do; the KV cache is BF16 (half the
 *       memory and the bytes attention reads). Accumulation, the residual stream, norms, softmax and SSM states stay
 *       F32. Held to the bf16 criterion of the golden fixtures (3e-2 of max |logit|). On CPUs without BF16 dot
 *       products the matmuls use the best exact kernels.</li>
 *   <li>{@link #EXACT}: F32 activations into every kernel and an F32 KV cache on the CPU: logits within 1e-4 of
 *       max |logit| from the golden fixtures, on every CPU.</li>
 * </ul>
 * Explicit element types in {@link LoadOptions} (matmul, KV cache, activations) override what the mode implies.
 */
public enum Precision {
    EXACT,
    FAST;

    /** "exact" or "fast" (any case); an error names the accepted values. */
    public static Precision parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "exact" -> EXACT;
            case "fast" -> FAST;
            default -> throw new NemotronException("precision must be exact or fast, got \"" + s + "\"");
        };
    }

    /** The lower-case name, as the CLI spells it. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
