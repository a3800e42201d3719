package org.nemotron4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.DType;
import org.nemotron4j.ModelConfig;

class ModelGeneratorTest {
    static final Path FIXTURES = Path.of(System.getProperty("n4j.fixtures", "../../../shared/fixtures"));
    static final ModelConfig TINY = ModelConfig.read(FIXTURES.resolve("nemotron-h-tiny/config.json"));

    @TempDir
    Path dir;

    static List<String> listing(Path d) throws Exception {
        try (Stream<Path> s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    static void assertSameFiles(Path a, Path b) throws Exception {
        assertEquals(listing(a), listing(b));
        for (String f : listing(a)) {
            assertArrayEquals(Files.readAllBytes(a.resolve(f)), Files.readAllBytes(b.resolve(f)), f);
        }
    }

    @Test
    void deterministicPerSeed() throws Exception {
        ModelGenerator.generate(TINY, dir.resolve("a"), 1, false, null);
        ModelGenerator.generate(TINY, dir.resolve("b"), 1, false, ModelGenerator.ProgressListener.NONE);
        ModelGenerator.generate(TINY, dir.resolve("c"), 2, false, null);
        assertSameFiles(dir.resolve("a"), dir.resolve("b"));
        assertEquals(List.of("config.json", "generation_config.json", "model.safetensors"), listing(dir.resolve("a")));
        assertEquals(Files.readString(dir.resolve("a/config.json")), Files.readString(dir.resolve("c/config.json")));
        byte[] a = Files.readAllBytes(dir.resolve("a/model.safetensors"));
        byte[] c = Files.readAllBytes(dir.resolve("c/model.safetensors"));
        assertEquals(a.length, c.length);
        assertFalse(java.util.Arrays.equals(a, c));
    }

    @Test
    void generatedCheckpointValidatesWithSaneWeights() throws Exception {
        List<long[]> progress = new ArrayList<>();
        ModelGenerator.generate(TINY, dir, 42, false, (done, total) -> progress.add(new long[] {done, total}));
        long[] last = progress.get(progress.size() - 1);
        assertEquals(last[0], last[1]);
        for (int i = 1; i < progress.size(); i++) {
            assertTrue(progress.get(i)[0] >= progress.get(i - 1)[0]);
        }
        assertTrue(Files.readString(dir.resolve("generation_config.json")).contains("\"eos_token_id\" : 2"));
        try (Checkpoint c = Checkpoint.open(dir)) {
            c.validate();
            assertEquals(TINY, c.config());
            assertEquals(TINY.parameterCount() * 2, c.totalBytes());
            assertEquals(last[1], c.totalBytes());
            for (TensorInfo t : c.tensors()) {
                assertEquals(DType.BF16, t.dtype(), t.name());
            }
            float[] norm = c.tensor("backbone.layers.0.norm.weight").toFloatArray();
            for (float v : norm) {
                assertTrue(v >= 0.89f && v <= 1.11f, "norm " + v);
            }
            for (float v : c.tensor("backbone.layers.0.mixer.A_log").toFloatArray()) {
                assertTrue(v >= 0 && v <= Math.log(16) + 0.02, "A_log " + v);
            }
            for (float v : c.tensor("backbone.layers.4.mixer.dt_bias").toFloatArray()) {
                double dt = Math.log1p(Math.exp(v)); // softplus
                assertTrue(dt >= 0.00099 && dt <= 0.101, "dt " + dt);
            }
            float[] in = c.tensor("backbone.layers.0.mixer.in_proj.weight").toFloatArray();
            double bound = Math.sqrt(3.0 / 64);
            double sumSq = 0;
            for (float v : in) {
                assertTrue(Math.abs(v) <= bound * 1.01);
                sumSq += v * v;
            }
            double variance = sumSq / in.length;
            assertEquals(1.0 / 64, variance, 0.1 / 64, "linear weights have variance 1/fan_in");
            float[] emb = c.tensor(NemotronHLayout.EMBEDDINGS).toFloatArray();
            double embSq = 0;
            for (float v : emb) {
                embSq += v * v;
            }
            assertEquals(1.0, embSq / emb.length, 0.05, "embeddings ~ N(0, 1)");
            float[] conv = c.tensor("backbone.layers.2.mixer.conv1d.weight").toFloatArray();
            for (float v : conv) {
                assertTrue(Math.abs(v) <= 0.5 * 1.01);
            }
        }
    }

    @Test
    void fp8VariantQuantizesTheSameValues() throws Exception {
        Path bf16 = dir.resolve("bf16");
        Path fp8 = dir.resolve("fp8");
        ModelGenerator.generate(TINY, bf16, 9, false, null);
        ModelGenerator.generate(TINY, fp8, 9, true, null);
        try (Checkpoint b = Checkpoint.open(bf16); Checkpoint f = Checkpoint.open(fp8)) {
            f.validate();
            ModelConfig.Quantization q = f.config().quantization().orElseThrow();
            assertEquals(ModelGenerator.FP8_EXCLUDE_MODULES, q.excludeModules());
            assertEquals(TINY, f.config().withQuantization(Optional.empty()));
            for (String module : List.of("backbone.layers.0.mixer.in_proj", "backbone.layers.0.mixer.out_proj",
                    "backbone.layers.3.mixer.up_proj", "backbone.layers.3.mixer.down_proj")) {
                TensorInfo w = f.tensor(module + ".weight");
                assertEquals(DType.F8_E4M3, w.dtype(), module);
                TensorInfo scale = f.tensor(module + ".weight_scale");
                assertEquals(DType.F32, scale.dtype());
                assertEquals(0, scale.rank());
                assertTrue(f.tensor(module + ".input_scale").scalar() > 0);
                float s = scale.scalar();
                float[] codes = w.toFloatArray();
                float[] reference = b.tensor(module + ".weight").toFloatArray();
                float maxCode = 0;
                for (int i = 0; i < codes.length; i++) {
                    maxCode = Math.max(maxCode, Math.abs(codes[i]));
                    float dequantized = codes[i] * s;
                    // e4m3 keeps 3 mantissa bits (relative error <= 1/16), bf16 8 bits; subnormals are 2^-9 * s apart
                    assertEquals(reference[i], dequantized, Math.abs(reference[i]) * (1 / 16f + 1 / 256f) + s * 0x1p-10f,
                            module + "[" + i + "]");
                }
                assertEquals(Fp8E4M3.MAX, maxCode, module + ": scale = max|w| / 448");
            }
            assertEquals(DType.BF16, f.tensor("backbone.layers.1.mixer.q_proj.weight").dtype());
            assertEquals(DType.BF16, f.tensor("backbone.layers.0.mixer.conv1d.weight").dtype());
            assertEquals(DType.BF16, f.tensor("lm_head.weight").dtype());
            assertArrayEquals(b.tensor("lm_head.weight").data().toArray(ValueLayout.JAVA_BYTE),
                    f.tensor("lm_head.weight").data().toArray(ValueLayout.JAVA_BYTE));
        }
        // generating bf16 over the fp8 directory drops the quantization again
        ModelGenerator.generate(TINY.withQuantization(ModelConfig.read(fp8.resolve("config.json")).quantization()), fp8,
                9, false, null);
        assertSameFiles(bf16, fp8);
    }

    @Test
    void shardedOutputReadsBackIdentically() throws Exception {
        Path single = dir.resolve("single");
        Path sharded = dir.resolve("sharded");
        ModelGenerator.generate(TINY, single, 5, true, null);
        ModelGenerator.generate(TINY, sharded, 5, true, 60_000, null);
        assertTrue(Files.exists(sharded.resolve(Checkpoint.INDEX_FILE)));
        assertFalse(Files.exists(sharded.resolve(Checkpoint.SINGLE_FILE)));
        try (Checkpoint a = Checkpoint.open(single); Checkpoint b = Checkpoint.open(sharded)) {
            b.validate();
            assertTrue(b.files().size() >= 4, "shards: " + b.files());
            assertTrue(b.files().get(0).getFileName().toString().matches("model-00001-of-000\\d\\d\\.safetensors"));
            assertEquals(a.tensors().size(), b.tensors().size());
            for (TensorInfo t : a.tensors()) {
                assertArrayEquals(t.data().toArray(ValueLayout.JAVA_BYTE),
                        b.tensor(t.name()).data().toArray(ValueLayout.JAVA_BYTE), t.name());
            }
        }
        // regenerating as a single file removes the old shards and the index
        ModelGenerator.generate(TINY, sharded, 5, true, null);
        assertEquals(listing(single), listing(sharded));
    }

    @Test
    void tiedEmbeddingsAndNoConvBias() throws Exception {
        ModelConfig tied = ModelConfig.parse(TINY.toJson().replace("\"tie_word_embeddings\" : false", "\"tie_word_embeddings\" : true")
                .replace("\"use_conv_bias\" : true", "\"use_conv_bias\" : false"), "tied");
        ModelGenerator.generate(tied, dir, 3, false, null);
        try (Checkpoint c = Checkpoint.open(dir)) {
            c.validate();
            assertTrue(c.find("lm_head.weight").isEmpty());
            assertTrue(c.find("backbone.layers.0.mixer.conv1d.bias").isEmpty());
            assertTrue(c.config().tieWordEmbeddings());
        }
    }
}
