package org.nemotron4j.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.DType;
import org.nemotron4j.Device;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.MemoryPlan;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.NemotronException;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;
import org.nemotron4j.checkpoint.ModelGenerator;
import org.nemotron4j.checkpoint.NemotronHLayout;
import org.nemotron4j.checkpoint.NemotronHLayout.Role;

/**
 * Quantize-on-load ({@link LoadOptions#withQuantize}): the model it gives is the model {@code nemotron4j quantize}
 * writes, bit for bit (same quants, same kernels: logits of a prefill and of decode steps equal), for q8, q4 and
 * q6, mixed policies and FP8 inputs; its memory is what {@link MemoryPlan} says; bad requests are refused by name.
 */
class QuantizeOnLoadTest {
    private static final int[] PROMPT = {5, 17, 42, 99, 3, 250, 7, 64, 1, 300, 12, 8};

    @TempDir
    Path dir;

    private Path model(String name, boolean fp8) throws Exception {
        Path p = dir.resolve(name);
        ModelGenerator.generate(QuantizedModelTest.config(c -> { }), p, 23, fp8, null);
        return p;
    }

    /** Prefill logits, then the logits of three greedy decode steps, concatenated. */
    private static float[] run(NemotronModel m) {
        try (Session s = m.newSession()) {
            float[] first = s.prefill(PROMPT);
            float[] all = new float[first.length * 4];
            System.arraycopy(first, 0, all, 0, first.length);
            float[] last = first;
            for (int step = 1; step < 4; step++) {
                last = s.decode(argmax(last));
                System.arraycopy(last, 0, all, step * first.length, first.length);
            }
            return all;
        }
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    private void assertOnLoadEqualsQuantizedCheckpoint(Path original, QuantType type, String policy) {
        Path written = dir.resolve("written-" + type.id() + "-" + policy.replace(',', '_').replace('=', '-'));
        Quantizer.quantize(original, written, type, QuantPolicy.parse(policy, type), null);
        float[] fromDisk;
        Map<String, String> diskModules;
        try (NemotronModel m = NemotronModel.load(written, Device.cpu(), LoadOptions.exact())) {
            fromDisk = run(m);
            diskModules = m.config().quantization().orElseThrow().modules();
        }
        LoadOptions onLoad = LoadOptions.exact().withQuantize(type, policy);
        try (NemotronModel m = NemotronModel.load(original, Device.cpu(), onLoad)) {
            assertArrayEquals(fromDisk, run(m), type.id() + " " + policy + ": quantize-on-load vs the written checkpoint");
            ModelConfig.Quantization q = m.config().quantization().orElseThrow();
            assertTrue(q.isBlock());
            assertEquals(type.id(), q.algo());
            assertEquals(policy, q.policy());
            assertEquals(diskModules, q.modules(), "the modules quantize-on-load quantized");
        }
    }

    @Test
    void q8AndQ4OnLoadAreTheQuantizedCheckpoints() throws Exception {
        Path bf16 = model("bf16", false);
        assertOnLoadEqualsQuantizedCheckpoint(bf16, QuantType.Q8, "default");
        assertOnLoadEqualsQuantizedCheckpoint(bf16, QuantType.Q4, "default");
        assertOnLoadEqualsQuantizedCheckpoint(bf16, QuantType.Q4, "all,lm_head=q8,out_proj=keep");
    }

    @Test
    void q6OnLoadIsTheQuantizedCheckpoint() throws Exception {
        Path bf16 = model("bf16", false);
        assertOnLoadEqualsQuantizedCheckpoint(bf16, QuantType.Q6, QuantPolicy.defaultFor(QuantType.Q6));
        assertOnLoadEqualsQuantizedCheckpoint(bf16, QuantType.Q4, "mixed6");
        assertOnLoadEqualsQuantizedCheckpoint(bf16, QuantType.Q8, "default,lm_head=q6,q_proj=q6");
    }

    @Test
    void fp8CheckpointsQuantizeOnLoadAsTheQuantizerDoes() throws Exception {
        assertOnLoadEqualsQuantizedCheckpoint(model("fp8", true), QuantType.Q4, "default");
    }

    /** The quantized weights live in backend memory the model owns: exactly the plan's q4 + q8 parts, on top of the rest. */
    @Test
    void memoryIsThePlansQuantizedPart() throws Exception {
        Path bf16 = model("bf16", false);
        long plain;
        try (NemotronModel m = NemotronModel.load(bf16, Device.cpu(), LoadOptions.exact())) {
            plain = m.allocatedBytes();
        }
        QuantPolicy policy = QuantPolicy.parse(QuantPolicy.defaultFor(QuantType.Q4), QuantType.Q4);
        long quantized;
        ModelConfig config;
        try (NemotronModel m = NemotronModel.load(bf16, Device.cpu(), LoadOptions.exact().withQuantize(QuantType.Q4))) {
            quantized = m.allocatedBytes();
            config = m.config();
        }
        MemoryPlan plan = MemoryPlan.of(config, 256, 1, DType.BF16, policy, DType.F32, DType.F32, 256);
        // q4's default policy (mixed6): q4, with the Mamba out_proj, the attention projections and lm_head at q6
        long planned = plan.weightParts().entrySet().stream().filter(e -> e.getKey().contains("block-quantized"))
                .mapToLong(Map.Entry::getValue).sum();
        assertEquals(2, plan.weightParts().keySet().stream().filter(k -> k.contains("block-quantized")).count(),
                plan.table());
        assertEquals(planned, quantized - plain, plan.table());
        // the same plan from the original config and the policy (what `plan --weights q4` prints)
        MemoryPlan fromPolicy = MemoryPlan.of(ModelConfig.read(bf16.resolve("config.json")), 256, 1, DType.BF16, policy,
                DType.F32, DType.F32, 256);
        assertEquals(plan.weightParts(), fromPolicy.weightParts());
    }

    /** mixed6: the plan's q4 and q6 parts (q6: 6.5 bits per weight) are the memory quantize-on-load allocates. */
    @Test
    void memoryOfMixed6IsThePlansQ4AndQ6Parts() throws Exception {
        Path bf16 = model("bf16", false);
        long plain;
        try (NemotronModel m = NemotronModel.load(bf16, Device.cpu(), LoadOptions.exact())) {
            plain = m.allocatedBytes();
        }
        long quantized;
        try (NemotronModel m = NemotronModel.load(bf16, Device.cpu(), LoadOptions.exact().withQuantize(QuantType.Q4,
                QuantPolicy.MIXED6))) {
            quantized = m.allocatedBytes();
        }
        ModelConfig config = ModelConfig.read(bf16.resolve("config.json"));
        MemoryPlan plan = MemoryPlan.of(config, 256, 1, DType.BF16, QuantPolicy.parse(QuantPolicy.MIXED6, QuantType.Q4),
                DType.F32, DType.F32, 256);
        Map<String, Long> parts = plan.weightParts();
        assertEquals(java.util.Set.of("q4 (block-quantized Linear weights)", "q6 (block-quantized Linear weights)",
                "BF16 (the rest)"), parts.keySet(), plan.table());
        assertEquals(parts.get("q4 (block-quantized Linear weights)") + parts.get("q6 (block-quantized Linear weights)"),
                quantized - plain, plan.table());
        // the q6 part: out_proj, q/k/v/o_proj and lm_head at 6.5 bits per weight
        var q6Roles = java.util.EnumSet.of(Role.MAMBA_OUT_PROJ, Role.ATTENTION_Q_PROJ, Role.ATTENTION_K_PROJ,
                Role.ATTENTION_V_PROJ, Role.ATTENTION_O_PROJ, Role.LM_HEAD);
        long q6Weights = 0;
        for (NemotronHLayout.Weight w : NemotronHLayout.weights(config)) {
            if (q6Roles.contains(w.role())) {
                q6Weights += w.shape()[0] * w.shape()[1];
            }
        }
        assertTrue(q6Weights > 0);
        assertEquals(q6Weights * 13 / 16, (long) parts.get("q6 (block-quantized Linear weights)"), plan.table());
    }

    @Test
    void badRequestsAreRefusedByName() throws Exception {
        Path bf16 = model("bf16", false);
        Path q4 = dir.resolve("q4");
        Quantizer.quantize(bf16, q4, QuantType.Q4, QuantPolicy.parse(null, QuantType.Q4), null);
        NemotronException again = assertThrows(NemotronException.class,
                () -> NemotronModel.load(q4, Device.cpu(), LoadOptions.defaults().withQuantize(QuantType.Q8)));
        assertTrue(again.getMessage().contains("already quantized") && again.getMessage().contains("q4"),
                again.getMessage());
        NemotronException policy = assertThrows(NemotronException.class,
                () -> LoadOptions.defaults().withQuantize(QuantType.Q4, "default,conv1d"));
        assertTrue(policy.getMessage().contains("conv1d"), policy.getMessage());
        // turning it off again
        assertEquals(null, LoadOptions.defaults().withQuantize(QuantType.Q4).withQuantize(null).quantize());
    }
}
