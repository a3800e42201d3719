package org.nemotron4j.cli;

import org.nemotron4j.runtime.NativeLibrary;

/** What {@code --version} says about the native library (loading it; a failure is shown, not thrown). */
final class NativeInfo {
    private NativeInfo() {
    }

    static String describe() {
        try {
            NativeLibrary.load();
            return "libnemotron4j " + org.nemotron4j.bindings.nemotron4j_h.n4j_version().getString(0)
                    + ", ABI " + org.nemotron4j.bindings.nemotron4j_h.n4j_abi_version()
                    + (NativeLibrary.hasCudaPlugin() ? ", CUDA plug-in present" : ", no CUDA plug-in")
                    + " (" + NativeLibrary.platform() + ")";
        } catch (RuntimeException | LinkageError e) {
            return "not loaded: " + e.getMessage();
        }
    }
}
