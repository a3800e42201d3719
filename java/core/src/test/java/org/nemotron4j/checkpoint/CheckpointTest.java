package org.nemotron4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.DType;
import org.nemotron4j.LayerKind;
import org.nemotron4j.NemotronException;

class CheckpointTest {
    static final Path FIXTURES = Path.of(System.getProperty("n4j.fixtures", "../../../shared/fixtures"));
    static final Path TINY = FIXTURES.resolve("nemotron-h-tiny");
    static final Path TINY_FP8 = FIXTURES.resolve("nemotron-h-tiny-fp8");

    @TempDir
    Path dir;

    static void assertMessage(NemotronException e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "message \"" + e.getMessage() + "\" lacks \"" + p + "\"");
        }
    }

    /** The fixture's tensors, each passed through {@code edit} (null drops it), as in-memory data. */
    static List<TensorData> fixtureTensors(SafetensorsFile source, Function<TensorInfo, TensorData> edit) {
        List<TensorData> out = new ArrayList<>();
        for (TensorInfo t : source.tensors()) {
            TensorData d = edit.apply(t);
            if (d != null) {
                out.add(d);
            }
        }
        return out;
    }

    static TensorData copy(TensorInfo t) {
        return copy(t, t.name());
    }

    static TensorData copy(TensorInfo t, String name) {
        return TensorData.of(new TensorSpec(name, t.dtype(), t.shape()), t.data());
    }

    /** A checkpoint dir with the fixture's config and a single model.safetensors of these tensors. */
    Path singleFile(Path fixture, String name, Function<TensorInfo, TensorData> edit) throws Exception {
        Path out = Files.createDirectories(dir.resolve(name));
        Files.copy(fixture.resolve("config.json"), out.resolve("config.json"));
        try (SafetensorsFile source = SafetensorsFile.open(fixture.resolve("model.safetensors"))) {
            SafetensorsWriter.writeAll(out.resolve("model.safetensors"), Map.of("format", "pt"),
                    fixtureTensors(source, edit));
        }
        return out;
    }

    /** The fixture split in two shards (embeddings and layers 0-3 | the rest) plus an index of {@code indexJson}. */
    Path sharded(String name, Function<Map<String, String>, String> indexJson) throws Exception {
        Path out = Files.createDirectories(dir.resolve(name));
        Files.copy(TINY.resolve("config.json"), out.resolve("config.json"));
        Map<String, String> weightMap = new java.util.TreeMap<>();
        try (SafetensorsFile source = SafetensorsFile.open(TINY.resolve("model.safetensors"))) {
            List<TensorData> first = new ArrayList<>();
            List<TensorData> second = new ArrayList<>();
            for (TensorInfo t : source.tensors()) {
                boolean early = t.name().startsWith("backbone.embeddings") || t.name().matches("backbone\\.layers\\.[0-3]\\..*");
                (early ? first : second).add(copy(t));
                weightMap.put(t.name(), early ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
            }
            SafetensorsWriter.writeAll(out.resolve("model-00001-of-00002.safetensors"), Map.of("format", "pt"), first);
            SafetensorsWriter.writeAll(out.resolve("model-00002-of-00002.safetensors"), Map.of("format", "pt"), second);
        }
        Files.writeString(out.resolve(Checkpoint.INDEX_FILE), indexJson.apply(weightMap));
        return out;
    }

    static String index(Map<String, String> weightMap) {
        StringBuilder sb = new StringBuilder("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
        weightMap.forEach((k, v) -> sb.append('"').append(k).append("\": \"").append(v).append("\",\n"));
        sb.setLength(sb.length() - 2);
        return sb.append("}}").toString();
    }

    @Test
    void fixturesValidate() {
        try (Checkpoint c = Checkpoint.open(TINY)) {
            c.validate();
            assertEquals(8, c.config().numHiddenLayers());
            assertEquals(TINY, c.directory());
            assertEquals(List.of(TINY.resolve("model.safetensors")), c.files());
            assertEquals(c.config().parameterCount() * 2, c.totalBytes());
            TensorInfo in = c.require("backbone.layers.0.mixer.in_proj.weight", c.config().inProjDim(), 64);
            assertEquals(DType.BF16, in.dtype());
            assertArrayEquals(new long[] {184, 1, 4}, c.tensor("backbone.layers.2.mixer.conv1d.weight").shape());
        }
        try (Checkpoint c = Checkpoint.open(TINY_FP8)) {
            c.validate();
            assertTrue(c.config().quantization().isPresent());
            assertEquals(DType.F8_E4M3, c.tensor("backbone.layers.3.mixer.up_proj.weight").dtype());
            assertEquals(DType.BF16, c.tensor("backbone.layers.1.mixer.q_proj.weight").dtype());
            assertTrue(c.tensor("backbone.layers.3.mixer.up_proj.weight_scale").scalar() > 0);
        }
    }

    @Test
    void closedCheckpoint() {
        Checkpoint c = Checkpoint.open(TINY);
        TensorInfo t = c.tensor("lm_head.weight");
        c.close();
        assertMessage(assertThrows(NemotronException.class, () -> c.tensor("lm_head.weight")), "closed");
        assertThrows(IllegalStateException.class, t::toFloatArray);
    }

    @Test
    void missingTensorNamesTensorAndDirectory() {
        try (Checkpoint c = Checkpoint.open(TINY)) {
            NemotronException e = assertThrows(NemotronException.class, () -> c.tensor("backbone.layers.0.mixer.q_proj.weight"));
            assertMessage(e, "backbone.layers.0.mixer.q_proj.weight", TINY.toString(), "model.safetensors");
            assertTrue(c.find("backbone.layers.0.mixer.q_proj.weight").isEmpty());
        }
    }

    @Test
    void requireShapeMismatchNamesConfig() {
        try (Checkpoint c = Checkpoint.open(TINY)) {
            NemotronException e = assertThrows(NemotronException.class,
                    () -> c.require("backbone.layers.0.mixer.out_proj.weight", 64, 128));
            assertMessage(e, "backbone.layers.0.mixer.out_proj.weight", TINY.resolve("model.safetensors").toString(),
                    "[64, 120]", "[64, 128]", "config.json", "disagrees");
            assertMessage(assertThrows(NemotronException.class, () -> c.require("absent.weight", 3)), "absent.weight",
                    "config.json");
        }
    }

    @Test
    void legacyEmbeddingName() throws Exception {
        Path legacy = singleFile(TINY, "legacy", t -> t.name().equals(NemotronHLayout.EMBEDDINGS)
                ? copy(t, NemotronHLayout.LEGACY_EMBEDDINGS) : copy(t));
        try (Checkpoint c = Checkpoint.open(legacy); Checkpoint modern = Checkpoint.open(TINY)) {
            TensorInfo e = c.tensor(NemotronHLayout.EMBEDDINGS);
            assertEquals(NemotronHLayout.LEGACY_EMBEDDINGS, e.name());
            assertSame(e, c.tensor(NemotronHLayout.LEGACY_EMBEDDINGS));
            c.validate();
            assertEquals(NemotronHLayout.EMBEDDINGS, modern.tensor(NemotronHLayout.LEGACY_EMBEDDINGS).name());
            assertArrayEquals(modern.tensor(NemotronHLayout.EMBEDDINGS).data().toArray(ValueLayout.JAVA_BYTE),
                    e.data().toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void validateFailsOnShapeDisagreement() throws Exception {
        // the config says 96 MLP channels; this checkpoint's layer 3 up_proj has 95
        Path broken = singleFile(TINY, "broken", t -> t.name().equals("backbone.layers.3.mixer.up_proj.weight")
                ? TensorData.bf16(t.name(), new float[95 * 64], 95, 64) : copy(t));
        try (Checkpoint c = Checkpoint.open(broken)) {
            NemotronException e = assertThrows(NemotronException.class, c::validate);
            assertMessage(e, "backbone.layers.3.mixer.up_proj.weight", "[95, 64]", "[96, 64]",
                    broken.resolve("config.json").toString(), "disagrees", "1 problem");
        }
    }

    @Test
    void validateFailsOnMissingTensorAndBadDtype() throws Exception {
        Path broken = singleFile(TINY, "missing", t -> {
            if (t.name().equals("backbone.layers.2.mixer.D")) {
                return null;
            }
            if (t.name().equals("backbone.norm_f.weight")) {
                return TensorData.i32(t.name(), new int[64]);
            }
            return copy(t);
        });
        try (Checkpoint c = Checkpoint.open(broken)) {
            NemotronException e = assertThrows(NemotronException.class, c::validate);
            assertMessage(e, "missing tensor \"backbone.layers.2.mixer.D\"", "[6]", "layer 2 is MAMBA",
                    "backbone.norm_f.weight", "I32", "2 problems");
        }
    }

    @Test
    void fp8NeedsQuantizationConfigAndScales() throws Exception {
        // FP8 weights under a config without quantization_config
        Path noConfig = Files.createDirectories(dir.resolve("fp8-no-config"));
        Files.copy(TINY.resolve("config.json"), noConfig.resolve("config.json"));
        Files.copy(TINY_FP8.resolve("model.safetensors"), noConfig.resolve("model.safetensors"));
        try (Checkpoint c = Checkpoint.open(noConfig)) {
            assertMessage(assertThrows(NemotronException.class, c::validate),
                    "backbone.layers.0.mixer.in_proj.weight", "F8_E4M3", "quantization_config");
        }
        // a weight_scale missing, an input_scale of the wrong shape
        Path noScale = singleFile(TINY_FP8, "fp8-no-scale", t -> switch (t.name()) {
            case "backbone.layers.4.mixer.out_proj.weight_scale" -> null;
            case "backbone.layers.5.mixer.down_proj.input_scale" -> TensorData.f32(t.name(), new float[] {1, 1});
            default -> copy(t);
        });
        try (Checkpoint c = Checkpoint.open(noScale)) {
            NemotronException e = assertThrows(NemotronException.class, c::validate);
            assertMessage(e, "backbone.layers.4.mixer.out_proj.weight_scale", "backbone.layers.5.mixer.down_proj.input_scale",
                    "[2]", "2 problems");
        }
        // FP8 where only BF16 is allowed, even with the quantization config
        Path fp8Attention = singleFile(TINY_FP8, "fp8-attention", t -> t.name().equals("backbone.layers.1.mixer.q_proj.weight")
                ? TensorData.of(new TensorSpec(t.name(), DType.F8_E4M3, t.shape()),
                        java.lang.foreign.MemorySegment.ofArray(new byte[(int) t.elementCount()]))
                : copy(t));
        try (Checkpoint c = Checkpoint.open(fp8Attention)) {
            assertMessage(assertThrows(NemotronException.class, c::validate), "backbone.layers.1.mixer.q_proj.weight",
                    "F8_E4M3", "only");
        }
    }

    @Test
    void shardedViaIndex() throws Exception {
        Path out = sharded("sharded", CheckpointTest::index);
        try (Checkpoint c = Checkpoint.open(out); Checkpoint single = Checkpoint.open(TINY)) {
            c.validate();
            assertEquals(2, c.files().size());
            assertEquals(single.totalBytes(), c.totalBytes());
            for (TensorInfo t : single.tensors()) {
                TensorInfo s = c.tensor(t.name());
                assertArrayEquals(t.data().toArray(ValueLayout.JAVA_BYTE), s.data().toArray(ValueLayout.JAVA_BYTE), t.name());
            }
            assertEquals(out.resolve("model-00002-of-00002.safetensors"), c.tensor("lm_head.weight").file());
            assertEquals(out.resolve("model-00001-of-00002.safetensors"),
                    c.tensor("backbone.layers.3.mixer.up_proj.weight").file());
        }
    }

    @Test
    void missingShard() throws Exception {
        Path out = sharded("missing-shard", CheckpointTest::index);
        Files.delete(out.resolve("model-00002-of-00002.safetensors"));
        NemotronException e = assertThrows(NemotronException.class, () -> Checkpoint.open(out));
        assertMessage(e, out.resolve(Checkpoint.INDEX_FILE).toString(), "model-00002-of-00002.safetensors",
                "does not exist");
    }

    @Test
    void tensorInWrongShard() throws Exception {
        Path out = sharded("wrong-shard", m -> {
            m.put("lm_head.weight", "model-00001-of-00002.safetensors");
            return index(m);
        });
        NemotronException e = assertThrows(NemotronException.class, () -> Checkpoint.open(out));
        assertMessage(e, Checkpoint.INDEX_FILE, "\"lm_head.weight\"", "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors");
    }

    @Test
    void indexListsTensorNoShardHas() throws Exception {
        Path out = sharded("ghost", m -> {
            m.put("backbone.layers.9.norm.weight", "model-00001-of-00002.safetensors");
            return index(m);
        });
        assertMessage(assertThrows(NemotronException.class, () -> Checkpoint.open(out)),
                "\"backbone.layers.9.norm.weight\"", "does not contain it");
    }

    @Test
    void tensorInTwoShards() throws Exception {
        Path out = sharded("duplicate", CheckpointTest::index);
        // rewrite shard 2 with a copy of layer 0's norm, which shard 1 has
        try (SafetensorsFile s1 = SafetensorsFile.open(out.resolve("model-00001-of-00002.safetensors"));
                SafetensorsFile s2 = SafetensorsFile.open(out.resolve("model-00002-of-00002.safetensors"))) {
            List<TensorData> tensors = fixtureTensors(s2, CheckpointTest::copy);
            tensors.add(copy(s1.tensor("backbone.layers.0.norm.weight")));
            SafetensorsWriter.writeAll(out.resolve("dup.safetensors"), Map.of(), tensors);
        }
        Files.move(out.resolve("dup.safetensors"), out.resolve("model-00002-of-00002.safetensors"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertMessage(assertThrows(NemotronException.class, () -> Checkpoint.open(out)),
                "\"backbone.layers.0.norm.weight\"", "two shards");
    }

    @Test
    void notACheckpoint() throws Exception {
        assertMessage(assertThrows(NemotronException.class, () -> Checkpoint.open(dir.resolve("absent"))), "absent");
        Path onlyConfig = Files.createDirectories(dir.resolve("config-only"));
        Files.copy(TINY.resolve("config.json"), onlyConfig.resolve("config.json"));
        assertMessage(assertThrows(NemotronException.class, () -> Checkpoint.open(onlyConfig)), "model.safetensors",
                Checkpoint.INDEX_FILE);
        Path noConfig = Files.createDirectories(dir.resolve("no-config"));
        Files.copy(TINY.resolve("model.safetensors"), noConfig.resolve("model.safetensors"));
        assertMessage(assertThrows(NemotronException.class, () -> Checkpoint.open(noConfig)), "config.json", "not found");
    }

    @Test
    void layoutMatchesFixtureExactly() {
        // every tensor of the fixture is implied by its config, and vice versa
        try (Checkpoint c = Checkpoint.open(TINY)) {
            List<String> implied = NemotronHLayout.weights(c.config()).stream().map(NemotronHLayout.Weight::name).sorted().toList();
            List<String> present = c.tensors().stream().map(TensorInfo::name).sorted().toList();
            assertEquals(implied, present);
            assertEquals(LayerKind.ATTENTION, c.config().layer(6));
        }
    }
}
