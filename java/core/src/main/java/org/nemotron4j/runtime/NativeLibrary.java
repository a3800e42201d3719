package org.nemotron4j.runtime;

import org.nemotron4j.NemotronException;
import org.nemotron4j.Version;
import org.nemotron4j.bindings.nemotron4j_h;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Loads {@code libnemotron4j} once per JVM, so that the jextract-form bindings (which look symbols up through the
 * class loader) find it, and checks that its C ABI is the one the bindings were generated for.
 *
 * <p>Where the library comes from, first match wins:
 * <ol>
 *   <li>the system property {@code nemotron4j.library.dir} (or the environment variable {@code NEMOTRON4J_LIBRARY_DIR}):
 *       a directory holding {@code libnemotron4j.so} (and, optionally, {@code libnemotron4j_cuda.so});</li>
 *   <li>the class path (or module path): the artifact {@code org.nemotron4j:nemotron4j-native} with the platform's
 *       classifier (e.g. {@code linux-x86_64}) holds {@code org/nemotron4j/native/<platform>/libnemotron4j.so}, and
 *       {@code nemotron4j-native-cuda} (same classifier) holds {@code libnemotron4j_cuda.so} in the same directory.
 *       Both are extracted side by side into a private temporary directory, so that the CPU library finds the CUDA
 *       plug-in next to itself.</li>
 * </ol>
 * The resources sit in a directory that is not a legal package name, so they stay readable from any module.
 */
public final class NativeLibrary {
    private static final String RESOURCE_DIR = "org/nemotron4j/native/";
    private static volatile Path loadedDir;
    private static volatile boolean cudaPlugin;

    private NativeLibrary() {
    }

    /** Loads the library if it is not loaded yet; returns the directory it was loaded from. */
    public static Path load() {
        Path dir = loadedDir;
        if (dir != null) {
            return dir;
        }
        synchronized (NativeLibrary.class) {
            if (loadedDir == null) {
                Path found = locate();
                Path lib = found.resolve(System.mapLibraryName("nemotron4j"));
                try {
                    System.load(lib.toAbsolutePath().toString());
                } catch (UnsatisfiedLinkError e) {
                    throw new NemotronException("cannot load the native library " + lib + ": " + e.getMessage(), e);
                }
                checkAbi(lib);
                cudaPlugin = Files.isRegularFile(found.resolve(System.mapLibraryName("nemotron4j_cuda")));
                loadedDir = found;
            }
            return loadedDir;
        }
    }

    /** Whether the CUDA plug-in was found next to the loaded CPU library (call after {@link #load()}). */
    public static boolean hasCudaPlugin() {
        return cudaPlugin;
    }

    /**
     * The Maven coordinates of the artifact that holds a library for this platform, e.g.
     * {@code org.nemotron4j:nemotron4j-native-cuda:0.1.0:linux-x86_64}.
     */
    public static String artifact(boolean cuda) {
        return "org.nemotron4j:" + (cuda ? "nemotron4j-native-cuda" : "nemotron4j-native") + ":" + Version.current()
                + ":" + platform();
    }

    /**
     * The ABI check: the library's {@code n4j_abi_version()} must equal the {@code N4J_ABI_VERSION} the bindings were
     * generated from; a library of another release could otherwise be called with other struct layouts.
     */
    private static void checkAbi(Path lib) {
        int expected = nemotron4j_h.N4J_ABI_VERSION();
        int actual;
        try {
            actual = nemotron4j_h.n4j_abi_version();
        } catch (UnsatisfiedLinkError | ExceptionInInitializerError e) {
            throw new NemotronException(lib + " is not a nemotron4j native library (no n4j_abi_version): " + e, e);
        }
        if (actual != expected) {
            throw new NemotronException("native library " + lib + " has ABI version " + actual + ", but nemotron4j "
                    + Version.current() + " needs ABI version " + expected + ": use " + artifact(false)
                    + " (the native artifact of the same version as nemotron4j-core)");
        }
    }

    private static Path locate() {
        String dir = System.getProperty("nemotron4j.library.dir");
        if (dir == null || dir.isBlank()) {
            dir = System.getenv("NEMOTRON4J_LIBRARY_DIR");
        }
        if (dir != null && !dir.isBlank()) {
            Path p = Path.of(dir);
            if (!Files.isRegularFile(p.resolve(System.mapLibraryName("nemotron4j")))) {
                throw new NemotronException("nemotron4j.library.dir=" + p + " holds no " + System.mapLibraryName("nemotron4j"));
            }
            return p;
        }
        return extractPackaged();
    }

    /** The platform as the native artifacts' classifier spells it, e.g. {@code linux-x86_64}. */
    public static String platform() {
        String os = System.getProperty("os.name").toLowerCase();
        String arch = System.getProperty("os.arch").toLowerCase();
        String osName = os.contains("linux") ? "linux" : os.contains("mac") ? "macos" : os.contains("win") ? "windows" : os;
        String archName = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return osName + "-" + archName;
    }

    private static InputStream resource(String name) {
        ClassLoader loader = NativeLibrary.class.getClassLoader();
        if (loader == null) {
            loader = ClassLoader.getSystemClassLoader();
        }
        InputStream in = loader.getResourceAsStream(name);
        if (in == null && Thread.currentThread().getContextClassLoader() != null) {
            in = Thread.currentThread().getContextClassLoader().getResourceAsStream(name);
        }
        return in;
    }

    private static Path extractPackaged() {
        String base = RESOURCE_DIR + platform() + "/";
        String cpu = System.mapLibraryName("nemotron4j");
        try (InputStream in = resource(base + cpu)) {
            if (in == null) {
                throw new NemotronException("no nemotron4j native library for " + platform() + " on the class path or"
                        + " module path (looked for " + base + cpu + "): add the artifact " + artifact(false)
                        + " (Maven: groupId org.nemotron4j, artifactId nemotron4j-native, classifier " + platform()
                        + "), or set -Dnemotron4j.library.dir to a directory holding " + cpu);
            }
            Path tmp = Files.createTempDirectory("nemotron4j-native-");
            tmp.toFile().deleteOnExit();
            Path target = tmp.resolve(cpu);
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
            target.toFile().deleteOnExit();
            String cuda = System.mapLibraryName("nemotron4j_cuda");
            try (InputStream cin = resource(base + cuda)) {
                if (cin != null) {
                    Path ct = tmp.resolve(cuda);
                    Files.copy(cin, ct, StandardCopyOption.REPLACE_EXISTING);
                    ct.toFile().deleteOnExit();
                }
            }
            return tmp;
        } catch (IOException e) {
            throw new NemotronException("cannot extract the native library: " + e.getMessage(), e);
        }
    }
}
