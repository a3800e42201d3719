package org.nemotron4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class DTypeTest {
    @Test
    void safetensorsNamesAndSizes() {
        for (DType t : DType.values()) {
            assertEquals(t, DType.fromSafetensors(t.safetensorsName()));
        }
        assertEquals(2, DType.BF16.byteSize());
        assertEquals(1, DType.F8_E4M3.byteSize());
        assertEquals(8, DType.I64.byteSize());
        NemotronException e = assertThrows(NemotronException.class, () -> DType.fromSafetensors("Q4_K"));
        assertTrue(e.getMessage().contains("Q4_K"));
    }

    @Test
    void nativeCodesMatchHeader() {
        // nemotron4j.h: N4J_DTYPE_F32 0, BF16 1, F16 2, F8_E4M3 3, I32 4
        assertEquals(0, DType.F32.nativeCode());
        assertEquals(1, DType.BF16.nativeCode());
        assertEquals(2, DType.F16.nativeCode());
        assertEquals(3, DType.F8_E4M3.nativeCode());
        assertEquals(4, DType.I32.nativeCode());
        assertThrows(NemotronException.class, DType.I64::nativeCode);
        assertThrows(NemotronException.class, DType.U8::nativeCode);
    }

    @Test
    void layerSymbols() {
        for (LayerKind k : LayerKind.values()) {
            assertEquals(k, LayerKind.fromSymbol(k.symbol()));
        }
        assertThrows(NemotronException.class, () -> LayerKind.fromSymbol('E'));
    }
}
