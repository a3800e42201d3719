package org.nemotron4j;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nemotron4j.runtime.Backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The golden fixtures on a CUDA GPU, held to the bf16 criteria of the fixtures README: identical argmax wherever
 * the golden top-2 margin exceeds 0.05 x max|logit|, max |Δlogit| <= 3e-2 x max|logit|, identical greedy ids;
 * prefill and decode. Skipped (only) where no CUDA device, driver or plug-in is present.
 */
@Tag("gpu")
class GoldenModelGpuTest {
    static final double TOL = 3e-2;

    @BeforeAll
    static void requireGpu() {
        try (Backend b = Backend.create(Device.cuda(0))) {
            System.out.println("GPU backend: " + b.name());
        } catch (NemotronException e) {
            assumeTrue(false, "no CUDA backend: " + e.getMessage());
        }
    }

    /** BF16 activations (CUDA's default) and F32 activations, both to the fixtures' criterion. */
    @ParameterizedTest
    @CsvSource({"nemotron-h-tiny, F32", "nemotron-h-tiny-fp8, F32", "nemotron-h-tiny, BF16", "nemotron-h-tiny-fp8, BF16"})
    void goldenOnCuda(String name, DType act) {
        try (NemotronModel model = NemotronModel.load(Fixtures.path(name), Device.cuda(0),
                LoadOptions.exact().withActivationDtype(act))) {
            assertEquals(act, model.activationDtype());
            Fixtures.assertGolden(name, model, TOL);
        }
    }
}
