package org.nemotron4j;

/**
 * Where a model runs: the CPU (with a number of worker threads) or a CUDA GPU.
 *
 * @param kind              CPU or CUDA
 * @param ordinal           the CUDA device ordinal (0 for the CPU)
 * @param threads           CPU worker threads, 0 = one per available core
 * @param referenceKernels  run the scalar reference kernels only (slow; the test oracle)
 */
public record Device(Kind kind, int ordinal, int threads, boolean referenceKernels) {
    public enum Kind { CPU, CUDA }

    public Device {
        if (kind == null) {
            throw new NemotronException("device kind must not be null");
        }
        if (ordinal < 0) {
            throw new NemotronException("device ordinal must be >= 0, got " + ordinal);
        }
        if (threads < 0) {
            throw new NemotronException("threads must be >= 0 (0 = all cores), got " + threads);
        }
    }

    /** The CPU with one worker thread per available core. */
    public static Device cpu() {
        return new Device(Kind.CPU, 0, 0, false);
    }

    /** The CPU with {@code threads} worker threads. */
    public static Device cpu(int threads) {
        return new Device(Kind.CPU, 0, threads, false);
    }

    /** CUDA device {@code ordinal}. */
    public static Device cuda(int ordinal) {
        return new Device(Kind.CUDA, ordinal, 0, false);
    }

    /** The same device running only the scalar reference kernels. */
    public Device withReferenceKernels() {
        return new Device(kind, ordinal, threads, true);
    }

    public Device withThreads(int n) {
        return new Device(kind, ordinal, n, referenceKernels);
    }

    /** Parses {@code cpu}, {@code cpu:4} (threads), {@code cuda} or {@code cuda:1}. */
    public static Device parse(String spec) {
        if (spec == null || spec.isBlank()) {
            throw new NemotronException("empty device; use cpu, cpu:THREADS, cuda or cuda:ORDINAL");
        }
        String s = spec.trim().toLowerCase();
        String[] parts = s.split(":", 2);
        int n = 0;
        if (parts.length == 2) {
            try {
                n = Integer.parseInt(parts[1]);
            } catch (NumberFormatException e) {
                throw new NemotronException("bad device '" + spec + "': '" + parts[1] + "' is not a number");
            }
        }
        return switch (parts[0]) {
            case "cpu" -> cpu(n);
            case "cuda", "gpu" -> cuda(n);
            default -> throw new NemotronException("unknown device '" + spec + "'; use cpu, cpu:THREADS, cuda or cuda:ORDINAL");
        };
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? (threads == 0 ? "cpu" : "cpu:" + threads) : "cuda:" + ordinal;
    }
}
