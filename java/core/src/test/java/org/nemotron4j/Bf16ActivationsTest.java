package org.nemotron4j;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine with BF16 activations (the CUDA backend's default) on the CPU, whose BF16 mode rounds every activation
 * tensor, conv state and logit to bf16 between F32 kernels and keeps the residual stream in F32, as CUDA does: the
 * BF16 data path (element sizes and offsets in the workspace, the residual adds, conv states, logits, snapshots)
 * runs on every machine, held to the golden fixtures' bf16 criterion.
 */
class Bf16ActivationsTest {
    static final LoadOptions BF16 = LoadOptions.exact().withActivationDtype(DType.BF16);
    /** Max |Δlogit| / max|logit| allowed against the golden (and against the F32 engine): the fixtures' bf16 criterion. */
    static final double TOL = 3e-2;

    static void check(String what, float[] got, float[] ref) {
        Fixtures.assertLogitsClose(what, got, ref, TOL);
    }

    /**
     * The golden fixtures with BF16 activations: identical argmax wherever the golden top-2 margin exceeds
     * 0.05 x max|logit|, greedy ids identical, and max |Δlogit| <= {@value #TOL} x max|logit|, by prefill and by
     * decode (measured: 2.4e-2 for tiny, 2.6e-2 for tiny-fp8). This needs the F32 residual stream: rounding the
     * residual to bf16 after every layer as well gives 3.08e-2 at one of tiny's 70 prompt positions (a float64
     * oracle rounding at the same places gives the same 3.09e-2).
     */
    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny", "nemotron-h-tiny-fp8"})
    void goldenFixturesWithBf16Activations(String name) {
        try (NemotronModel model = NemotronModel.load(Fixtures.path(name), Device.cpu(), BF16)) {
            assertEquals(DType.BF16, model.activationDtype());
            assertTrue(model.backendName().contains("bf16"), model.backendName());
            Fixtures.assertGolden(name, model, TOL);
        }
    }

    /**
     * F32 activations with matmul inputs rounded to BF16 (BF16 dot products on CPUs with AVX512-BF16, unchanged
     * elsewhere): the golden fixtures within the bf16 criterion, and prefill equal to decode within it.
     */
    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny", "nemotron-h-tiny-fp8"})
    void goldenFixturesWithBf16Matmul(String name) {
        LoadOptions opts = LoadOptions.exact().withMatmulDtype(DType.BF16).withPrefillChunk(16);
        try (NemotronModel model = NemotronModel.load(Fixtures.path(name), Device.cpu(), opts)) {
            assertEquals(DType.F32, model.activationDtype());
            Fixtures.assertGolden(name, model, TOL);
        }
        var e = org.junit.jupiter.api.Assertions.assertThrows(NemotronException.class,
                () -> LoadOptions.exact().withMatmulDtype(DType.F16));
        assertTrue(e.getMessage().contains("matmulDtype must be F32 or BF16"), e.getMessage());
    }

    /**
     * The default, {@link Precision#FAST}: BF16 matmul inputs (BF16 dot products where the CPU has them) and a BF16
     * KV cache; the golden fixtures within the bf16 criterion, greedy ids identical, by prefill and by decode.
     * Exact mode is what every 1e-4 test asks for.
     */
    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny", "nemotron-h-tiny-fp8"})
    void goldenFixturesInFastMode(String name) {
        try (NemotronModel model = NemotronModel.load(Fixtures.path(name))) {
            assertEquals(Precision.FAST, model.precision());
            assertEquals(DType.F32, model.activationDtype());
            assertEquals(DType.BF16, model.kvCacheDtype());
            Fixtures.assertGolden(name, model, TOL);
        }
        try (NemotronModel model = NemotronModel.load(Fixtures.path(name), Device.cpu(), LoadOptions.exact())) {
            assertEquals(Precision.EXACT, model.precision());
            assertTrue(!model.backendName().contains("bf16 matmul"), model.backendName());
        }
        var e = org.junit.jupiter.api.Assertions.assertThrows(NemotronException.class, () -> Precision.parse("medium"));
        assertTrue(e.getMessage().contains("precision must be exact or fast"), e.getMessage());
    }

    @Test
    void onlyF32AndBf16ActivationsAreAccepted() {
        var e = org.junit.jupiter.api.Assertions.assertThrows(NemotronException.class,
                () -> LoadOptions.exact().withActivationDtype(DType.F8_E4M3));
        assertTrue(e.getMessage().contains("activationDtype must be F32 or BF16"), e.getMessage());
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact())) {
            assertEquals(DType.F32, m.activationDtype(), "the CPU default");
        }
    }

    /** Prefill in chunks (crossing KV blocks) against token-by-token decode, both with BF16 activations. */
    @Test
    void prefillMatchesDecode() {
        int[] prompt = ModelPropertyTest.randomIds(300, 320, 4);
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), BF16.withPrefillChunk(64));
             Session a = m.newSession(); Session b = m.newSession()) {
            int v = m.config().vocabSize();
            float[] all = a.prefillAll(prompt);
            for (int t = 0; t < prompt.length; t++) {
                check("position " + t, b.decode(prompt[t]), Fixtures.row(all, t, v));
            }
        }
    }

    /** Conv states take half the bytes; snapshots move between F32 and BF16 models (widened, or rounded). */
    @Test
    void statesAndSnapshotsAcrossActivationDtypes() {
        int[] prompt = ModelPropertyTest.randomIds(280, 320, 5);
        try (NemotronModel f32 = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact());
             NemotronModel bf16 = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), BF16)) {
            ModelConfig c = f32.config();
            try (Session s = bf16.newSession()) {
                long before = bf16.allocatedBytes();
                try (Session fork = s.fork()) {
                    assertEquals(c.count(LayerKind.MAMBA) * MambaState.bytes(c, DType.BF16), bf16.allocatedBytes() - before);
                    assertTrue(MambaState.bytes(c, DType.BF16) < MambaState.bytes(c));
                }
            }
            try (Session a = f32.newSession(); Session b = bf16.newSession()) {
                float[] la = a.prefill(prompt);
                float[] lb = b.prefill(prompt);
                check("bf16 vs f32 prefill", lb, la);
                try (Session fromBf16 = f32.restoreSession(b.snapshot()); Session fromF32 = bf16.restoreSession(a.snapshot())) {
                    int next = Session.argmax(la);
                    for (int i = 0; i < 8; i++) {
                        float[] ref = a.decode(next);
                        check("bf16 snapshot on f32, step " + i, fromBf16.decode(next), ref);
                        check("f32 snapshot on bf16, step " + i, fromF32.decode(next), ref);
                        check("bf16 session, step " + i, b.decode(next), ref);
                        next = Session.argmax(ref);
                    }
                }
            }
        }
    }

    /**
     * Fast mode's decode attention on heads of 64 (a multiple of 32: the BF16 dot-product decode kernel on CPUs with
     * AVX512-BF16, where the query and the probabilities are rounded to BF16): 6 query heads per KV head, a prompt of
     * 300 positions (several decode chunks, short segments at block ends), then 6 greedy decode steps; each step's
     * logits against the exact engine and against a fast-mode prefill of the same tokens, within the bf16 criterion.
     */
    @Test
    void fastDecodeAttentionOnWideHeads(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) {
        java.nio.file.Path dir = tmp.resolve("wide-heads");
        ModelPropertyTest.make(dir, ModelPropertyTest.config("M*-*", 64, 320, 4, 16, 16, 2, 16, 6, 1, 64, 96), 21, false);
        int[] prompt = ModelPropertyTest.randomIds(300, 320, 5);
        try (NemotronModel fast = NemotronModel.load(dir);
             NemotronModel exact = NemotronModel.load(dir, Device.cpu(), LoadOptions.exact());
             Session f = fast.newSession(); Session e = exact.newSession()) {
            assertEquals(Precision.FAST, fast.precision());
            assertEquals(DType.BF16, fast.kvCacheDtype());
            float[] lf = f.prefill(prompt);
            float[] le = e.prefill(prompt);
            int[] ids = java.util.Arrays.copyOf(prompt, prompt.length + 6);
            for (int step = 0; step < 6; step++) {
                int next = Session.argmax(le);
                ids[prompt.length + step] = next;
                lf = f.decode(next);
                le = e.decode(next);
                check("decode step " + step + " vs exact", lf, le);
                try (Session p = fast.newSession()) {
                    check("decode step " + step + " vs fast prefill", lf,
                            p.prefill(java.util.Arrays.copyOf(ids, prompt.length + step + 1)));
                }
            }
        }
    }
}
