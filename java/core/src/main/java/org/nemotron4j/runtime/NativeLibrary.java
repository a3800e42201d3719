package org.nemotron4j.runtime;

import org.nemotron4j.NemotronException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Loads {@code libnemotron4j} once per JVM, so that the jextract-form bindings (which look symbols up through the
 * class loader) find it.
 *
 * <p>Where the library comes from, first match wins:
 * <ol>
 *   <li>the system property {@code nemotron4j.library.dir} (or the environment variable {@code NEMOTRON4J_LIBRARY_DIR}):
 *       a directory holding {@code libnemotron4j.so} (and, optionally, {@code libnemotron4j_cuda.so});</li>
 *   <li>the copy packaged in this jar under {@code org/nemotron4j/native/<os>-<arch>/}, extracted to a private
 *       temporary directory (both libraries side by side, so the CPU library finds the CUDA one next to itself).</li>
 * </ol>
 */
public final class NativeLibrary {
    private static final String RESOURCE_DIR = "/org/nemotron4j/native/";
    private static volatile Path loadedDir;

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
                loadedDir = found;
            }
            return loadedDir;
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

    static String platform() {
        String os = System.getProperty("os.name").toLowerCase();
        String arch = System.getProperty("os.arch").toLowerCase();
        String osName = os.contains("linux") ? "linux" : os.contains("mac") ? "macos" : os.contains("win") ? "windows" : os;
        String archName = switch (arch) {
            case "amd64", "x86_64" -> "x86-64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return osName + "-" + archName.replace("x86-64", "x86_64");
    }

    private static Path extractPackaged() {
        String base = RESOURCE_DIR + platform() + "/";
        String cpu = System.mapLibraryName("nemotron4j");
        try (InputStream in = NativeLibrary.class.getResourceAsStream(base + cpu)) {
            if (in == null) {
                throw new NemotronException("this nemotron4j jar has no native library for " + platform()
                        + " (looked for " + base + cpu + "); build it with ci/test.sh or set -Dnemotron4j.library.dir");
            }
            Path tmp = Files.createTempDirectory("nemotron4j-native-");
            tmp.toFile().deleteOnExit();
            Path target = tmp.resolve(cpu);
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
            target.toFile().deleteOnExit();
            String cuda = System.mapLibraryName("nemotron4j_cuda");
            try (InputStream cin = NativeLibrary.class.getResourceAsStream(base + cuda)) {
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
