package org.nemotron4j.quant;

import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;
import org.nemotron4j.NemotronException;
import org.nemotron4j.checkpoint.NemotronHLayout.Role;

/**
 * Which Linear weights a quantized checkpoint stores in which block type. Written as a comma-separated list:
 * <pre>
 *   default             Mamba in_proj/out_proj and MLP up_proj/down_proj in the chosen type (the large matrices:
 *                       ~90% of the 9B's Linear weights); embeddings, norms, conv1d, the attention projections and
 *                       lm_head keep their stored precision
 *   mixed               default with the Mamba out_proj, the attention projections and lm_head in q8 (on the demo
 *                       model q4's error is mostly in out_proj, 19% of its quantized weights; the attention
 *                       projections and lm_head at more bits cost no measurable quality and keep decode from
 *                       reading them in bf16; like llama.cpp's Q4_K_M keeping some tensors at more bits)
 *   mixed6              mixed with those tensors in q6 instead of q8 (the default policy of q4: 6.5 bits per
 *                       weight instead of 8.5, so the 9B's Linear weights, which decode reads every token, are 9%
 *                       smaller than with mixed, 5.29 GB instead of 5.80; Q4_K_M likewise keeps such tensors at
 *                       Q6_K. On the demo model's held-out text with calibration: same top-1 95.38% against
 *                       mixed's 95.56%, mean KLD 0.0051 against 0.0046; decode 5% faster on bench-medium)
 *   all                 every Linear weight (the above, q/k/v/o_proj and lm_head)
 *   ROLE                also quantize ROLE (in_proj, out_proj, up_proj, down_proj, q_proj, k_proj, v_proj, o_proj,
 *                       lm_head) in the chosen type
 *   ROLE=q8|q4|q6|keep  ROLE in that type, or kept
 * </pre>
 * e.g. {@code default,lm_head=q8}. Later items override earlier ones. Embeddings, norms, conv1d and the Mamba
 * vectors are never quantized (they are not matrix products). A weight whose column count is not a multiple of its
 * type's block (64 for q4 and q6) falls back to q8 when that fits, else it is kept (the quantizer reports it).
 * {@code type} is the chosen type (the checkpoint's {@code quant_algo}): any of q8, q4, q6 with any policy
 * ({@code --type q6} quantizes the whole model at 6.5 bits).
 */
public record QuantPolicy(String spec, QuantType type, Map<Role, Optional<QuantType>> roles) {

    public static final String DEFAULT = "default";
    public static final String MIXED = "mixed";
    public static final String MIXED6 = "mixed6";
    public static final String ALL = "all";

    /**
     * The policy used when none is given: {@code mixed6} for q4, {@code all} for q8 and q6 (every Linear weight: q8
     * costs no measurable quality anywhere, and decode then reads no Linear weight in bf16, as llama.cpp's Q8_0; q6
     * is the same whole-model choice a step smaller, as llama.cpp's Q6_K quantizes every tensor).
     */
    public static String defaultFor(QuantType type) {
        return type == QuantType.Q4 ? MIXED6 : ALL;
    }

    /** Parses {@code spec} for the chosen {@code type}. */
    public static QuantPolicy parse(String spec, QuantType type) {
        Map<Role, Optional<QuantType>> roles = new EnumMap<>(Role.class);
        String s = spec == null || spec.isBlank() ? DEFAULT : spec.trim();
        for (String item : s.split(",")) {
            String it = item.trim();
            if (it.isEmpty()) {
                continue;
            }
            if (it.equals(DEFAULT) || it.equals(ALL) || it.equals(MIXED) || it.equals(MIXED6)) {
                for (Role r : new Role[] {Role.MAMBA_IN_PROJ, Role.MAMBA_OUT_PROJ, Role.MLP_UP_PROJ, Role.MLP_DOWN_PROJ}) {
                    roles.put(r, Optional.of(type));
                }
                if (it.equals(MIXED) || it.equals(MIXED6)) {
                    QuantType extra = it.equals(MIXED) ? QuantType.Q8 : QuantType.Q6;
                    for (Role r : new Role[] {Role.MAMBA_OUT_PROJ, Role.ATTENTION_Q_PROJ, Role.ATTENTION_K_PROJ,
                            Role.ATTENTION_V_PROJ, Role.ATTENTION_O_PROJ, Role.LM_HEAD}) {
                        roles.put(r, Optional.of(extra));
                    }
                }
                if (it.equals(ALL)) {
                    for (Role r : new Role[] {Role.ATTENTION_Q_PROJ, Role.ATTENTION_K_PROJ, Role.ATTENTION_V_PROJ,
                            Role.ATTENTION_O_PROJ, Role.LM_HEAD}) {
                        roles.put(r, Optional.of(type));
                    }
                }
                continue;
            }
            int eq = it.indexOf('=');
            String roleName = eq < 0 ? it : it.substring(0, eq).trim();
            Role role = role(roleName, spec);
            if (eq < 0) {
                roles.put(role, Optional.of(type));
            } else {
                String t = it.substring(eq + 1).trim();
                roles.put(role, t.equals("keep") ? Optional.empty()
                        : Optional.of(QuantType.find(t).orElseThrow(() -> new NemotronException("--policy \"" + spec
                                + "\": \"" + t + "\" is not q8, q4, q6 or keep"))));
            }
        }
        return new QuantPolicy(s, type, roles);
    }

    private static Role role(String name, String spec) {
        return switch (name) {
            case "in_proj" -> Role.MAMBA_IN_PROJ;
            case "out_proj" -> Role.MAMBA_OUT_PROJ;
            case "up_proj" -> Role.MLP_UP_PROJ;
            case "down_proj" -> Role.MLP_DOWN_PROJ;
            case "q_proj" -> Role.ATTENTION_Q_PROJ;
            case "k_proj" -> Role.ATTENTION_K_PROJ;
            case "v_proj" -> Role.ATTENTION_V_PROJ;
            case "o_proj" -> Role.ATTENTION_O_PROJ;
            case "lm_head" -> Role.LM_HEAD;
            default -> throw new NemotronException("--policy \"" + spec + "\": \"" + name + "\" is not a quantizable"
                    + " weight (in_proj, out_proj, up_proj, down_proj, q_proj, k_proj, v_proj, o_proj, lm_head) nor"
                    + " default, mixed, mixed6 or all");
        };
    }

    /** The type of a weight of {@code role} with {@code cols} columns, after the block-divisibility fallback. */
    public Optional<QuantType> typeFor(Role role, long cols) {
        Optional<QuantType> t = roles.getOrDefault(role, Optional.empty());
        if (t.isEmpty()) {
            return t;
        }
        if (cols % t.get().columnMultiple() == 0) {
            return t;
        }
        return cols % QuantType.Q8.columnMultiple() == 0 ? Optional.of(QuantType.Q8) : Optional.empty();
    }
}
