package org.nemotron4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.checkpoint.ModelGenerator;
import org.nemotron4j.checkpoint.SafetensorsFile;
import org.nemotron4j.checkpoint.SafetensorsWriter;
import org.nemotron4j.checkpoint.TensorData;
import org.nemotron4j.checkpoint.TensorInfo;
import org.nemotron4j.checkpoint.TensorSpec;

/**
 * Fuzzing findings that used to surface late (in the first forward pass, or only after filling the context) or
 * not at all: each is now either supported or refused at load, naming the tensor, field or argument.
 */
class LoadTimeChecksTest {
    private static final JsonMapper JSON = JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    @TempDir
    Path dir;

    /** The tiny fixture's config with {@code edit} applied. */
    static ModelConfig tinyConfig(Consumer<ObjectNode> edit) throws Exception {
        ObjectNode root = (ObjectNode) JSON.readTree(Files.readString(Fixtures.path("nemotron-h-tiny/config.json")));
        edit.accept(root);
        return ModelConfig.parse(JSON.writeValueAsString(root), "edited config");
    }

    private Path generate(String name, ModelConfig config) {
        Path out = dir.resolve(name);
        ModelGenerator.generate(config, out, 7, false, null);
        return out;
    }

    /** Rewrites {@code file} with every tensor {@code convert} picks converted by it, the rest copied. */
    private static void rewrite(Path file, java.util.function.Function<TensorInfo, TensorData> convert) {
        List<TensorData> out = new ArrayList<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (TensorInfo t : f.tensors()) {
                TensorData d = convert.apply(t);
                out.add(d != null ? d : new TensorData(new TensorSpec(t.name(), t.dtype(), t.shape()),
                        MemorySegment.ofArray(t.data().toArray(ValueLayout.JAVA_BYTE))));
            }
            SafetensorsWriter.writeAll(file, f.metadata(), out); // renamed over the mapped file: safe
        }
    }

    // ---- F16 weights ----

    /**
     * Fuzzing finding: F16 weights passed validation and failed in the first forward pass. They are now widened
     * to F32 at load: a checkpoint stored in F16 gives exactly the logits of the same values stored in F32.
     */
    @Test
    void f16WeightsRunAsTheirF32Values() {
        Path f16 = generate("f16", ModelConfig.read(Fixtures.path("nemotron-h-tiny/config.json")));
        Path f32 = generate("f32", ModelConfig.read(Fixtures.path("nemotron-h-tiny/config.json")));
        rewrite(f16.resolve("model.safetensors"), t -> t.dtype() != DType.BF16 ? null : f16Of(t));
        rewrite(f32.resolve("model.safetensors"), t -> t.dtype() != DType.BF16 ? null : f32Of(f16Of(t), t));
        int[] prompt = {5, 17, 42, 99, 3};
        try (NemotronModel a = NemotronModel.load(f16, Device.cpu(), LoadOptions.exact()); Session sa = a.newSession();
             NemotronModel b = NemotronModel.load(f32, Device.cpu(), LoadOptions.exact()); Session sb = b.newSession()) {
            assertEquals(DType.F16, Checkpoints.dtypeOf(f16, "backbone.layers.0.mixer.in_proj.weight"));
            assertArrayEquals(sb.prefill(prompt), sa.prefill(prompt));
            assertArrayEquals(sb.decode(7), sa.decode(7));
            assertArrayEquals(sb.generateGreedy(new int[] {1}, 4), sa.generateGreedy(new int[] {1}, 4));
        }
    }

    private static TensorData f16Of(TensorInfo t) {
        float[] v = t.toFloatArray();
        byte[] bytes = new byte[v.length * 2];
        MemorySegment seg = MemorySegment.ofArray(bytes);
        for (int i = 0; i < v.length; i++) {
            seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 2L * i,
                    Float.floatToFloat16(v[i]));
        }
        return new TensorData(new TensorSpec(t.name(), DType.F16, t.shape()), seg);
    }

    private static TensorData f32Of(TensorData f16, TensorInfo t) {
        MemorySegment seg = f16.bytes();
        float[] v = new float[(int) (seg.byteSize() / 2)];
        for (int i = 0; i < v.length; i++) {
            v[i] = Float.float16ToFloat(seg.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN),
                    2L * i));
        }
        return TensorData.f32(t.name(), v, t.shape());
    }

    /** Small helper: a tensor's dtype in a checkpoint directory. */
    static final class Checkpoints {
        static DType dtypeOf(Path model, String tensor) {
            try (var c = org.nemotron4j.checkpoint.Checkpoint.open(model)) {
                return c.tensor(tensor).dtype();
            }
        }
    }

    // ---- models without some layer kind ----

    /**
     * Fuzzing finding: a valid config without attention layers failed every forward pass ("allocation size must be
     * positive, got 0"). Mamba-only, MLP-only and attention-only models are valid Nemotron-H models and now run.
     */
    @Test
    void modelsWithoutSomeLayerKindRun() throws Exception {
        Map<String, Consumer<ObjectNode>> shapes = new LinkedHashMap<>();
        shapes.put("mamba-mlp", c -> c.put("hybrid_override_pattern", "M-M-").put("num_hidden_layers", 4)
                .put("num_attention_heads", 0).put("num_key_value_heads", 0).put("head_dim", 0));
        shapes.put("mamba-only", c -> c.put("hybrid_override_pattern", "MM").put("num_hidden_layers", 2));
        shapes.put("mlp-only", c -> c.put("hybrid_override_pattern", "--").put("num_hidden_layers", 2));
        shapes.put("attention-only", c -> c.put("hybrid_override_pattern", "**").put("num_hidden_layers", 2));
        for (var e : shapes.entrySet()) {
            Path model = generate(e.getKey(), tinyConfig(e.getValue()));
            try (NemotronModel m = NemotronModel.load(model, Device.cpu(), LoadOptions.exact()); Session s = m.newSession(); Session t = m.newSession()) {
                float[] logits = s.prefill(5, 17, 42);
                assertEquals(m.config().vocabSize(), logits.length, e.getKey());
                for (float v : logits) {
                    assertTrue(Float.isFinite(v), e.getKey() + ": logits finite");
                }
                float[] next = s.decode(9);
                // prefill and decode agree on what the same tokens give
                t.prefill(5, 17, 42, 9);
                assertEquals(4, t.position(), e.getKey());
                assertEquals(3, s.generateGreedy(new int[] {3}, 3).length, e.getKey());
                assertTrue(next.length > 0);
            }
        }
    }

    // ---- config sizes ----

    /** Fuzzing finding: heads x head_dim overflowing int passed validation. */
    @Test
    void headsTimesHeadDimOverflowIsRefusedNamingTheFields() throws Exception {
        NemotronException e = assertThrows(NemotronException.class, () -> tinyConfig(c -> c
                .put("num_attention_heads", 65536).put("num_key_value_heads", 65536).put("head_dim", 65536)));
        assertTrue(e.getMessage().contains("num_attention_heads x head_dim = 4294967296"), e.getMessage());
        e = assertThrows(NemotronException.class, () -> tinyConfig(c -> c
                .put("mamba_num_heads", 1 << 20).put("mamba_head_dim", 1 << 12).put("n_groups", 1)));
        assertTrue(e.getMessage().contains("mamba_num_heads x mamba_head_dim"), e.getMessage());
        e = assertThrows(NemotronException.class, () -> tinyConfig(c -> c
                .put("ssm_state_size", 1 << 30)));
        assertTrue(e.getMessage().contains("n_groups x ssm_state_size"), e.getMessage());
    }

    /**
     * Fuzzing finding: max_position_embeddings = 2^31 - 1 cost 256 MiB of KV block-pointer tables per session up
     * front. The tables now grow with the tokens.
     */
    @Test
    void hugeMaxPositionEmbeddingsCostsNothingUpFront() throws Exception {
        Path model = generate("long", tinyConfig(c -> c.put("max_position_embeddings", Integer.MAX_VALUE)));
        try (NemotronModel m = NemotronModel.load(model, Device.cpu(), LoadOptions.exact()); Session s = m.newSession()) {
            int attention = m.config().layers().indexOf(LayerKind.ATTENTION);
            assertTrue(s.kvCache(attention).tableBytes() <= 1024, "tables: " + s.kvCache(attention).tableBytes());
            float[] before = s.prefill(new int[300]);
            assertTrue(s.kvCache(attention).tableBytes() <= 1024);
            s.prefill(new int[2000]); // 9 blocks: the tables doubled as needed
            assertEquals(2300, s.position());
            assertEquals(m.config().vocabSize(), before.length);
            try (Session fork = s.fork()) {
                assertArrayEquals(s.decode(4), fork.decode(4));
            }
        }
    }

    /** Fuzzing finding: generateGreedy with n beyond the room filled the context before throwing. */
    @Test
    void generateGreedyBeyondTheRoomIsRefusedBeforeRunning() {
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact()); Session s = m.newSession()) {
            int max = m.config().maxPositionEmbeddings();
            NemotronException e = assertThrows(NemotronException.class,
                    () -> s.generateGreedy(new int[] {1, 2, 3}, max));
            assertTrue(e.getMessage().contains("n = " + max) && e.getMessage().contains("room for " + max),
                    e.getMessage());
            assertEquals(0, s.position(), "nothing ran");
            s.prefill(new int[max - 10]);
            assertThrows(NemotronException.class, () -> s.generateGreedy(new int[] {1}, 11));
            assertEquals(max - 10, s.position());
            assertEquals(10, s.generateGreedy(new int[] {1}, 10).length); // exactly the room: fine
            assertEquals(max, s.position());
        }
    }
}
