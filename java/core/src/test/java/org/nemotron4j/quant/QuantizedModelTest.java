package org.nemotron4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.Device;
import org.nemotron4j.Fixtures;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.NemotronException;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;
import org.nemotron4j.checkpoint.Checkpoint;
import org.nemotron4j.checkpoint.ModelGenerator;
import org.nemotron4j.checkpoint.SafetensorsFile;
import org.nemotron4j.checkpoint.SafetensorsWriter;
import org.nemotron4j.checkpoint.TensorData;
import org.nemotron4j.checkpoint.TensorInfo;
import org.nemotron4j.checkpoint.TensorSpec;

/**
 * q8 / q4 / q6 checkpoints end to end: {@link Quantizer} writes them, {@link Checkpoint#validate} checks them, the CPU
 * backend runs them. The strict check: a quantized model gives the logits of the same model with its weights
 * replaced by their dequantized F32 values, up to the int8 rounding of the activations (so the Java writer and
 * the native reader agree on the layout); then the quality against BF16, and every malformed input refused by name.
 */
public class QuantizedModelTest {
    private static final JsonMapper JSON = JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();
    private static final int[] PROMPT = {5, 17, 42, 99, 3, 250, 7, 64, 1, 300};

    @TempDir
    Path dir;

    /** The tiny fixture widened so that every Linear weight has a multiple of 64 columns. */
    static ModelConfig config(Consumer<ObjectNode> edit) throws Exception {
        ObjectNode root = (ObjectNode) JSON.readTree(Files.readString(Fixtures.path("nemotron-h-tiny/config.json")));
        root.put("hidden_size", 128);
        root.put("mamba_num_heads", 8);
        root.put("mamba_head_dim", 16);
        root.put("intermediate_size", 256);
        root.put("num_attention_heads", 4);
        root.put("head_dim", 32);
        edit.accept(root);
        return ModelConfig.parse(JSON.writeValueAsString(root), "test config");
    }

    private Path bf16Model(Consumer<ObjectNode> edit) throws Exception {
        Path p = dir.resolve("bf16");
        ModelGenerator.generate(config(edit), p, 11, false, null);
        return p;
    }

    private static float[] logits(Path model) {
        try (NemotronModel m = NemotronModel.load(model, Device.cpu(), LoadOptions.exact()); Session s = m.newSession()) {
            return s.prefill(PROMPT);
        }
    }

    private static double relMaxDiff(float[] ref, float[] got) {
        double maxRef = 0;
        double maxDiff = 0;
        for (int i = 0; i < ref.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
            maxDiff = Math.max(maxDiff, Math.abs(ref[i] - got[i]));
        }
        return maxDiff / maxRef;
    }

    /** The quantized checkpoint with every block-quantized weight replaced by its F32 values and no quantization. */
    private Path dequantized(Path quantized, String name) throws Exception {
        Path out = dir.resolve(name);
        dequantize(quantized, out);
        return out;
    }

    /** Writes {@code quantized} to {@code out} with every block-quantized weight as its F32 values. */
    public static void dequantize(Path quantized, Path out) throws Exception {
        Files.createDirectories(out);
        ModelConfig c = ModelConfig.read(quantized.resolve("config.json"));
        ModelConfig.Quantization q = c.quantization().orElseThrow();
        List<TensorData> tensors = new ArrayList<>();
        try (SafetensorsFile f = SafetensorsFile.open(quantized.resolve("model.safetensors"))) {
            Map<String, TensorInfo> byName = new java.util.HashMap<>();
            f.tensors().forEach(t -> byName.put(t.name(), t));
            for (TensorInfo t : f.tensors()) {
                if (t.name().endsWith("." + QuantType.SCALES_SUFFIX)) {
                    continue;
                }
                String module = t.name().substring(0, t.name().lastIndexOf('.'));
                if (q.blockType(module).isPresent()) {
                    QuantType type = QuantType.of(q.blockType(module).get());
                    byte[] quants = t.data().toArray(ValueLayout.JAVA_BYTE);
                    byte[] scales = byName.get(module + "." + QuantType.SCALES_SUFFIX).data().toArray(ValueLayout.JAVA_BYTE);
                    int rows = (int) t.shape()[0];
                    int cols = (int) type.cols(t.shape()[1]);
                    float[] v = new float[rows * cols];
                    for (int r = 0; r < rows; r++) {
                        for (int i = 0; i < cols; i++) {
                            v[r * cols + i] = BlockQuantizer.dequantize(type, quants, (int) (r * type.quantsRowBytes(cols)),
                                    scales, (int) (r * type.scalesRowBytes(cols)), cols, i);
                        }
                    }
                    tensors.add(TensorData.f32(t.name(), v, new long[] {rows, cols}));
                } else {
                    tensors.add(new TensorData(new TensorSpec(t.name(), t.dtype(), t.shape()),
                            MemorySegment.ofArray(t.data().toArray(ValueLayout.JAVA_BYTE))));
                }
            }
        }
        SafetensorsWriter.writeAll(out.resolve("model.safetensors"), Map.of("format", "pt"), tensors);
        Files.writeString(out.resolve("config.json"), c.withQuantization(java.util.Optional.empty()).toJson());
    }

    @Test
    void quantizedModelsRunTheirFormatAndTrackBf16() throws Exception {
        Path bf16 = bf16Model(root -> { });
        float[] ref = logits(bf16);
        for (QuantType type : QuantType.values()) {
            Path q = dir.resolve(type.id());
            Quantizer.Result r = Quantizer.quantize(bf16, q, type, QuantPolicy.parse("all", type), null);
            assertTrue(r.fallbacks().isEmpty(), r.fallbacks().toString());
            ModelConfig.Quantization qc = ModelConfig.read(q.resolve("config.json")).quantization().orElseThrow();
            assertTrue(qc.isBlock());
            assertEquals(type.id(), qc.blockType("backbone.layers.0.mixer.in_proj").orElseThrow());
            assertEquals(type.id(), qc.blockType("lm_head").orElseThrow());
            assertEquals(type.id(), qc.blockType("backbone.layers.1.mixer.q_proj").orElseThrow());
            float[] got = logits(q);
            float[] exact = logits(dequantized(q, type.id() + "-dequantized"));
            double vsFormat = relMaxDiff(exact, got);
            double vsBf16 = relMaxDiff(ref, got);
            System.out.printf("%s: max |logit - dequantized F32 model| / max = %.4f, vs BF16 %.4f%n", type.id(), vsFormat,
                    vsBf16);
            // The int8 activations are the only difference from the dequantized model (measured: q8 0.012, q4 0.021,
            // q6 0.028); a misread layout gives errors of the order of the logits themselves. Against BF16, uniform
            // random weights are q4's worst case (measured 0.17; q6 0.074); quality on real text is the perplexity
            // tool's job.
            assertTrue(vsFormat < 0.04, type.id() + " vs its dequantized weights: " + vsFormat);
            double bound = switch (type) {
                case Q8 -> 0.03;
                case Q6 -> 0.1;
                case Q4 -> 0.3;
            };
            assertTrue(vsBf16 < bound, type.id() + " vs BF16: " + vsBf16);
        }
    }

    @Test
    void defaultPolicyKeepsAttentionAndLmHeadAndFallsBackOnOddWidths() throws Exception {
        // the tiny fixture itself: out_proj has 120 columns (no block fits), down_proj 96 (q8 but not q4)
        Path bf16 = dir.resolve("tiny");
        ModelGenerator.generate(ModelConfig.read(Fixtures.path("nemotron-h-tiny/config.json")), bf16, 3, false, null);
        Path q4 = dir.resolve("tiny-q4");
        Quantizer.Result r = Quantizer.quantize(bf16, q4, QuantType.Q4, QuantPolicy.parse(null, QuantType.Q4), null);
        ModelConfig.Quantization qc = ModelConfig.read(q4.resolve("config.json")).quantization().orElseThrow();
        assertEquals("q4", qc.blockType("backbone.layers.0.mixer.in_proj").orElseThrow());
        assertFalse(qc.blockType("backbone.layers.0.mixer.out_proj").isPresent());
        assertEquals("q8", qc.blockType("backbone.layers.3.mixer.down_proj").orElseThrow());
        assertFalse(qc.blockType("backbone.layers.1.mixer.q_proj").isPresent());
        assertFalse(qc.blockType("lm_head").isPresent());
        assertTrue(r.fallbacks().stream().anyMatch(f -> f.contains("out_proj") && f.contains("kept")), r.fallbacks().toString());
        assertTrue(r.fallbacks().stream().anyMatch(f -> f.contains("down_proj") && f.contains("q8")), r.fallbacks().toString());
        float[] got = logits(q4);
        assertTrue(relMaxDiff(logits(bf16), got) < 0.15);
        // already quantized: refused
        NemotronException e = assertThrows(NemotronException.class,
                () -> Quantizer.quantize(q4, dir.resolve("again"), QuantType.Q8, QuantPolicy.parse(null, QuantType.Q8), null));
        assertTrue(e.getMessage().contains("already quantized"), e.getMessage());
    }

    /**
     * q4 with the mixed6 policy: the Mamba out_proj, the attention projections and lm_head at q6, the rest at q4,
     * both formats in one model running as their dequantized weights; mixed6 closer to BF16 than default (those
     * tensors at q4) and the q6 tensors 6.5 bits per weight.
     */
    @Test
    void mixed6PolicyRunsQ6AndQ4Together() throws Exception {
        Path bf16 = bf16Model(root -> { });
        Path q = dir.resolve("q4-mixed6");
        Quantizer.Result r = Quantizer.quantize(bf16, q, QuantType.Q4, QuantPolicy.parse("mixed6", QuantType.Q4), null);
        assertTrue(r.fallbacks().isEmpty(), r.fallbacks().toString());
        ModelConfig.Quantization qc = ModelConfig.read(q.resolve("config.json")).quantization().orElseThrow();
        assertEquals("q4", qc.algo());
        assertEquals("mixed6", qc.policy());
        assertEquals("q4", qc.blockType("backbone.layers.0.mixer.in_proj").orElseThrow());
        assertEquals("q6", qc.blockType("backbone.layers.0.mixer.out_proj").orElseThrow());
        assertEquals("q4", qc.blockType("backbone.layers.3.mixer.down_proj").orElseThrow());
        for (String m : new String[] {"q_proj", "k_proj", "v_proj", "o_proj"}) {
            assertEquals("q6", qc.blockType("backbone.layers.1.mixer." + m).orElseThrow(), m);
        }
        assertEquals("q6", qc.blockType("lm_head").orElseThrow());
        assertTrue(r.quantizedWeights().get("q6") > 0 && r.quantizedWeights().get("q4") > 0, r.quantizedWeights().toString());
        try (Checkpoint c = Checkpoint.open(q)) {
            c.validate();
            TensorInfo outProj = c.tensor("backbone.layers.0.mixer.out_proj.weight");
            TensorInfo outScales = c.tensor("backbone.layers.0.mixer.out_proj.weight_scales");
            // out_proj [hidden, mamba_num_heads * mamba_head_dim] = [128, 128] at q6
            assertEquals(org.nemotron4j.DType.U8, outProj.dtype());
            org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {128, 96}, outProj.shape());
            assertEquals(org.nemotron4j.DType.F16, outScales.dtype());
            org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {128, 4}, outScales.shape());
            assertEquals(6.5, 8.0 * (outProj.byteSize() + outScales.byteSize()) / (128 * 128), 1e-12);
        }
        float[] got = logits(q);
        double vsFormat = relMaxDiff(logits(dequantized(q, "q4-mixed6-dequantized")), got);
        assertTrue(vsFormat < 0.04, "q4 mixed6 vs its dequantized weights: " + vsFormat);
        Path plainQ4 = dir.resolve("q4-default");
        Quantizer.quantize(bf16, plainQ4, QuantType.Q4, QuantPolicy.parse("all", QuantType.Q4), null);
        float[] ref = logits(bf16);
        double mixed6 = relMaxDiff(ref, got);
        double all4 = relMaxDiff(ref, logits(plainQ4));
        System.out.printf("q4 mixed6 vs BF16 %.4f, q4 all %.4f%n", mixed6, all4);
        assertTrue(mixed6 < all4, "mixed6 " + mixed6 + " vs q4 everywhere " + all4);
    }

    @Test
    void q6DefaultPolicyQuantizesEverythingAndFallsBackOnOddWidths() throws Exception {
        // the tiny fixture: out_proj has 120 columns (no block fits), down_proj 96 (q8 but not q6), the rest 64
        Path bf16 = dir.resolve("tiny");
        ModelGenerator.generate(ModelConfig.read(Fixtures.path("nemotron-h-tiny/config.json")), bf16, 3, false, null);
        Path q6 = dir.resolve("tiny-q6");
        assertEquals("all", QuantPolicy.defaultFor(QuantType.Q6));
        Quantizer.Result r = Quantizer.quantize(bf16, q6, QuantType.Q6,
                QuantPolicy.parse(QuantPolicy.defaultFor(QuantType.Q6), QuantType.Q6), null);
        ModelConfig.Quantization qc = ModelConfig.read(q6.resolve("config.json")).quantization().orElseThrow();
        assertEquals("q6", qc.algo());
        assertEquals("q6", qc.blockType("backbone.layers.0.mixer.in_proj").orElseThrow());
        assertFalse(qc.blockType("backbone.layers.0.mixer.out_proj").isPresent());
        assertEquals("q8", qc.blockType("backbone.layers.3.mixer.down_proj").orElseThrow());
        assertEquals("q6", qc.blockType("backbone.layers.3.mixer.up_proj").orElseThrow());
        assertEquals("q6", qc.blockType("backbone.layers.1.mixer.q_proj").orElseThrow());
        assertEquals("q6", qc.blockType("lm_head").orElseThrow());
        assertTrue(r.fallbacks().stream().anyMatch(f -> f.contains("out_proj") && f.contains("kept")), r.fallbacks().toString());
        assertTrue(r.fallbacks().stream().anyMatch(f -> f.contains("down_proj") && f.contains("-> q8 (96 columns)")),
                r.fallbacks().toString());
        float[] got = logits(q6);
        assertTrue(relMaxDiff(logits(dequantized(q6, "tiny-q6-dequantized")), got) < 0.04);
        assertTrue(relMaxDiff(logits(bf16), got) < 0.1);
    }

    @Test
    void fp8CheckpointsQuantize() throws Exception {
        Path fp8 = dir.resolve("fp8");
        ModelGenerator.generate(config(root -> { }), fp8, 5, true, null);
        Path q8 = dir.resolve("fp8-q8");
        Quantizer.quantize(fp8, q8, QuantType.Q8, QuantPolicy.parse(null, QuantType.Q8), null);
        try (Checkpoint c = Checkpoint.open(q8)) {
            c.validate();
            assertTrue(c.find("backbone.layers.0.mixer.in_proj.weight_scale").isEmpty());
        }
        assertTrue(relMaxDiff(logits(fp8), logits(q8)) < 0.03);
    }

    // ---- malformed quantized checkpoints ----

    private Path q8Model() throws Exception {
        Path bf16 = bf16Model(root -> { });
        Path q8 = dir.resolve("q8");
        Quantizer.quantize(bf16, q8, QuantType.Q8, QuantPolicy.parse(null, QuantType.Q8), null);
        return q8;
    }

    private static void rewrite(Path model, java.util.function.Function<TensorInfo, TensorData> convert) {
        List<TensorData> out = new ArrayList<>();
        Path file = model.resolve("model.safetensors");
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (TensorInfo t : f.tensors()) {
                TensorData d = convert.apply(t);
                if (d == null) {
                    continue;
                }
                out.add(d);
            }
            SafetensorsWriter.writeAll(file, f.metadata(), out);
        }
    }

    private static TensorData copy(TensorInfo t) {
        return new TensorData(new TensorSpec(t.name(), t.dtype(), t.shape()),
                MemorySegment.ofArray(t.data().toArray(ValueLayout.JAVA_BYTE)));
    }

    private static String loadError(Path model) {
        return assertThrows(NemotronException.class, () -> NemotronModel.load(model, Device.cpu(), LoadOptions.exact()).close())
                .getMessage();
    }

    @Test
    void missingScalesAreRefused() throws Exception {
        Path q8 = q8Model();
        rewrite(q8, t -> t.name().equals("backbone.layers.0.mixer.in_proj.weight_scales") ? null : copy(t));
        String m = loadError(q8);
        assertTrue(m.contains("missing tensor \"backbone.layers.0.mixer.in_proj.weight_scales\""), m);
    }

    @Test
    void misShapedScalesAreRefused() throws Exception {
        Path q8 = q8Model();
        rewrite(q8, t -> {
            if (!t.name().equals("backbone.layers.3.mixer.up_proj.weight_scales")) {
                return copy(t);
            }
            long[] s = t.shape();
            byte[] bytes = t.data().asSlice(0, t.byteSize() / 2).toArray(ValueLayout.JAVA_BYTE);
            return new TensorData(new TensorSpec(t.name(), t.dtype(), new long[] {s[0] / 2, s[1]}), MemorySegment.ofArray(bytes));
        });
        String m = loadError(q8);
        assertTrue(m.contains("backbone.layers.3.mixer.up_proj.weight_scales") && m.contains("must be F16 [256, 4]"), m);
    }

    @Test
    void quantsOfTheWrongDtypeAreRefused() throws Exception {
        Path q8 = q8Model();
        rewrite(q8, t -> t.name().equals("backbone.layers.0.mixer.in_proj.weight")
                ? new TensorData(new TensorSpec(t.name(), org.nemotron4j.DType.U8, t.shape()),
                        MemorySegment.ofArray(t.data().toArray(ValueLayout.JAVA_BYTE)))
                : copy(t));
        String m = loadError(q8);
        assertTrue(m.contains("backbone.layers.0.mixer.in_proj.weight") && m.contains("implies the quants I8"), m);
    }

    @Test
    void unknownTypesAndBlocksThatDoNotDivideTheRowAreRefused() throws Exception {
        Path q8 = q8Model();
        Path config = q8.resolve("config.json");
        String original = Files.readString(config);
        Files.writeString(config, original.replaceFirst("\"backbone.layers.0.mixer.in_proj\" : \"q8\"",
                "\"backbone.layers.0.mixer.in_proj\" : \"q3\""));
        String m = loadError(q8);
        assertTrue(m.contains("modules[\"backbone.layers.0.mixer.in_proj\"]") && m.contains("unknown block type"), m);

        Files.writeString(config, original.replace("\"quant_algo\" : \"q8\"", "\"quant_algo\" : \"q5\""));
        m = loadError(q8);
        assertTrue(m.contains("quant_algo \"q5\""), m);

        // the tiny fixture's out_proj has 120 columns: a q8 block (32) does not divide it
        Path tiny = dir.resolve("tiny");
        ModelGenerator.generate(ModelConfig.read(Fixtures.path("nemotron-h-tiny/config.json")), tiny, 3, false, null);
        ObjectNode root = (ObjectNode) JSON.readTree(Files.readString(tiny.resolve("config.json")));
        ObjectNode qc = root.putObject("quantization_config");
        qc.put("quant_method", "nemotron4j");
        qc.put("quant_algo", "q8");
        qc.put("format_version", 1);
        qc.putObject("modules").put("backbone.layers.0.mixer.out_proj", "q8");
        Files.writeString(tiny.resolve("config.json"), JSON.writeValueAsString(root));
        m = loadError(tiny);
        assertTrue(m.contains("block size 32 does not divide the row of backbone.layers.0.mixer.out_proj.weight (120"
                + " columns)"), m);

        qc.putObject("modules").put("backbone.layers.0.mixer.conv1d", "q8");
        Files.writeString(tiny.resolve("config.json"), JSON.writeValueAsString(root));
        m = loadError(tiny);
        assertTrue(m.contains("not a Linear weight"), m);
    }

    private Path q6Model() throws Exception {
        Path bf16 = bf16Model(root -> { });
        Path q6 = dir.resolve("q6");
        Quantizer.quantize(bf16, q6, QuantType.Q6, QuantPolicy.parse(QuantPolicy.defaultFor(QuantType.Q6), QuantType.Q6),
                null);
        return q6;
    }

    @Test
    void malformedQ6WeightsAreRefusedByName() throws Exception {
        Path q6 = q6Model();
        Path file = q6.resolve("model.safetensors");
        byte[] original = Files.readAllBytes(file);
        // scales of half the rows
        rewrite(q6, t -> {
            if (!t.name().equals("backbone.layers.3.mixer.up_proj.weight_scales")) {
                return copy(t);
            }
            long[] s = t.shape();
            byte[] bytes = t.data().asSlice(0, t.byteSize() / 2).toArray(ValueLayout.JAVA_BYTE);
            return new TensorData(new TensorSpec(t.name(), t.dtype(), new long[] {s[0] / 2, s[1]}), MemorySegment.ofArray(bytes));
        });
        String m = loadError(q6);
        assertTrue(m.contains("tensor \"backbone.layers.3.mixer.up_proj.weight_scales\"") && m.contains("is F16 [128, 4]")
                && m.contains("the q6 scales of backbone.layers.3.mixer.up_proj.weight [256, 128] must be F16 [256, 4]"), m);

        // q4's record-shaped scales under a q6 module
        Files.write(file, original);
        rewrite(q6, t -> t.name().equals("backbone.layers.0.mixer.in_proj.weight_scales")
                ? new TensorData(new TensorSpec(t.name(), org.nemotron4j.DType.U8, new long[] {t.shape()[0], t.shape()[1] * 2}),
                        MemorySegment.ofArray(t.data().toArray(ValueLayout.JAVA_BYTE)))
                : copy(t));
        m = loadError(q6);
        assertTrue(m.contains("backbone.layers.0.mixer.in_proj.weight_scales") && m.contains("must be F16"), m);

        // missing scales
        Files.write(file, original);
        rewrite(q6, t -> t.name().equals("lm_head.weight_scales") ? null : copy(t));
        m = loadError(q6);
        assertTrue(m.contains("missing tensor \"lm_head.weight_scales\": the q6 scales of lm_head.weight (F16 [320, 4])"), m);

        // quants of q4's width (cols / 2) under a q6 module
        Files.write(file, original);
        rewrite(q6, t -> {
            if (!t.name().equals("backbone.layers.1.mixer.q_proj.weight")) {
                return copy(t);
            }
            long[] s = t.shape();
            byte[] bytes = t.data().asSlice(0, s[0] * (s[1] / 3 * 2)).toArray(ValueLayout.JAVA_BYTE);
            return new TensorData(new TensorSpec(t.name(), t.dtype(), new long[] {s[0], s[1] / 3 * 2}), MemorySegment.ofArray(bytes));
        });
        m = loadError(q6);
        assertTrue(m.contains("tensor \"backbone.layers.1.mixer.q_proj.weight\"") && m.contains("implies the quants U8 [128, 96]"),
                m);

        // the tiny fixture's down_proj has 96 columns: q8's block divides it, q6's (64) does not
        Path tiny = dir.resolve("tiny");
        ModelGenerator.generate(ModelConfig.read(Fixtures.path("nemotron-h-tiny/config.json")), tiny, 3, false, null);
        ObjectNode root = (ObjectNode) JSON.readTree(Files.readString(tiny.resolve("config.json")));
        ObjectNode qc = root.putObject("quantization_config");
        qc.put("quant_method", "nemotron4j");
        qc.put("quant_algo", "q6");
        qc.put("format_version", 1);
        qc.putObject("modules").put("backbone.layers.3.mixer.down_proj", "q6");
        Files.writeString(tiny.resolve("config.json"), JSON.writeValueAsString(root));
        m = loadError(tiny);
        assertTrue(m.contains("modules[\"backbone.layers.3.mixer.down_proj\"] = \"q6\"") && m.contains("block size 64 does not"
                + " divide the row of backbone.layers.3.mixer.down_proj.weight (96 columns)"), m);
    }

    @Test
    void policiesParseAndRefuseNonsense() {
        QuantPolicy p = QuantPolicy.parse("default,lm_head=q8,in_proj=keep", QuantType.Q4);
        var role = org.nemotron4j.checkpoint.NemotronHLayout.Role.class;
        assertEquals(java.util.Optional.of(QuantType.Q8), p.typeFor(Enum.valueOf(role, "LM_HEAD"), 128));
        assertEquals(java.util.Optional.empty(), p.typeFor(Enum.valueOf(role, "MAMBA_IN_PROJ"), 128));
        assertEquals(java.util.Optional.of(QuantType.Q4), p.typeFor(Enum.valueOf(role, "MLP_UP_PROJ"), 128));
        assertEquals(java.util.Optional.empty(), p.typeFor(Enum.valueOf(role, "ATTENTION_Q_PROJ"), 128));
        assertEquals("mixed6", QuantPolicy.defaultFor(QuantType.Q4));
        QuantPolicy mixed = QuantPolicy.parse("mixed", QuantType.Q4);
        assertEquals("mixed", mixed.spec());
        assertEquals(java.util.Optional.of(QuantType.Q8), mixed.typeFor(Enum.valueOf(role, "MAMBA_OUT_PROJ"), 128));
        assertEquals(java.util.Optional.of(QuantType.Q4), mixed.typeFor(Enum.valueOf(role, "MAMBA_IN_PROJ"), 128));
        assertEquals(java.util.Optional.of(QuantType.Q4), mixed.typeFor(Enum.valueOf(role, "MLP_DOWN_PROJ"), 128));
        assertEquals(java.util.Optional.of(QuantType.Q8), mixed.typeFor(Enum.valueOf(role, "LM_HEAD"), 128));
        assertEquals(java.util.Optional.of(QuantType.Q8), mixed.typeFor(Enum.valueOf(role, "ATTENTION_K_PROJ"), 128));
        assertEquals("all", QuantPolicy.defaultFor(QuantType.Q8));
        // mixed6 (q4's default): mixed with q6 for the tensors mixed keeps at q8
        QuantPolicy mixed6 = QuantPolicy.parse("mixed6", QuantType.Q4);
        for (String r : new String[] {"MAMBA_OUT_PROJ", "ATTENTION_Q_PROJ", "ATTENTION_K_PROJ", "ATTENTION_V_PROJ",
                "ATTENTION_O_PROJ", "LM_HEAD"}) {
            assertEquals(java.util.Optional.of(QuantType.Q6), mixed6.typeFor(Enum.valueOf(role, r), 128), r);
        }
        for (String r : new String[] {"MAMBA_IN_PROJ", "MLP_UP_PROJ", "MLP_DOWN_PROJ"}) {
            assertEquals(java.util.Optional.of(QuantType.Q4), mixed6.typeFor(Enum.valueOf(role, r), 128), r);
        }
        // q6's block (64) not dividing the row: q8 when its block does, else kept
        assertEquals(java.util.Optional.of(QuantType.Q8), mixed6.typeFor(Enum.valueOf(role, "LM_HEAD"), 96));
        assertEquals(java.util.Optional.empty(), mixed6.typeFor(Enum.valueOf(role, "LM_HEAD"), 120));
        QuantPolicy q6 = QuantPolicy.parse("default,lm_head=q6,out_proj=q8", QuantType.Q4);
        assertEquals(java.util.Optional.of(QuantType.Q6), q6.typeFor(Enum.valueOf(role, "LM_HEAD"), 128));
        assertEquals(java.util.Optional.of(QuantType.Q8), q6.typeFor(Enum.valueOf(role, "MAMBA_OUT_PROJ"), 128));
        assertEquals("all", QuantPolicy.defaultFor(QuantType.Q6));
        QuantPolicy all6 = QuantPolicy.parse(QuantPolicy.defaultFor(QuantType.Q6), QuantType.Q6);
        assertEquals(java.util.Optional.of(QuantType.Q6), all6.typeFor(Enum.valueOf(role, "ATTENTION_V_PROJ"), 128));
        assertEquals(java.util.Optional.of(QuantType.Q6), all6.typeFor(Enum.valueOf(role, "MAMBA_IN_PROJ"), 128));
        assertTrue(assertThrows(NemotronException.class, () -> QuantPolicy.parse("conv1d", QuantType.Q8)).getMessage()
                .contains("\"conv1d\" is not a quantizable weight"));
        assertTrue(assertThrows(NemotronException.class, () -> QuantPolicy.parse("lm_head=q2", QuantType.Q8)).getMessage()
                .contains("\"q2\" is not q8, q4, q6 or keep"));
        assertTrue(assertThrows(NemotronException.class, () -> QuantPolicy.parse("mixed5", QuantType.Q4)).getMessage()
                .contains("default, mixed, mixed6 or all"));
    }
}
