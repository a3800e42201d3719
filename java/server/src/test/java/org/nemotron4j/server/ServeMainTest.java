package org.nemotron4j.server;

import org.junit.jupiter.api.Test;
import org.nemotron4j.Fp8Activations;
import org.nemotron4j.NemotronException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ServeMain's command line: the model options reach {@link ServerOptions#load()}; bad values are clear errors. */
class ServeMainTest {
    @Test
    void fp8OptionReachesTheLoadOptions() {
        assertEquals(Fp8Activations.WEIGHT_ONLY,
                ServeMain.parse(new String[] {"--model", "m"}).load().effectiveFp8Activations());
        assertEquals(Fp8Activations.W8A8,
                ServeMain.parse(new String[] {"--model", "m", "--fp8", "w8a8"}).load().effectiveFp8Activations());
        NemotronException e = assertThrows(NemotronException.class,
                () -> ServeMain.parse(new String[] {"--model", "m", "--fp8", "fp16"}));
        assertTrue(e.getMessage().contains("weight-only or w8a8") && e.getMessage().contains("fp16"), e.getMessage());
    }
}
