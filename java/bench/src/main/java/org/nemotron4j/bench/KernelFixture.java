package org.nemotron4j.bench;

import org.nemotron4j.DType;
import org.nemotron4j.Device;
import org.nemotron4j.checkpoint.BFloat16;
import org.nemotron4j.checkpoint.Fp8E4M3;
import org.nemotron4j.checkpoint.TensorInfo;
import org.nemotron4j.runtime.Backend;
import org.nemotron4j.runtime.Kernels;
import org.nemotron4j.runtime.NativeWeight;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * What a kernel benchmark runs on: a CPU backend with its kernels, and an arena holding every buffer, weight and
 * descriptor of the case, filled from a fixed-seed generator (the same inputs in every run). {@link #close} frees
 * it all. Native memory comes from the arena, not the Java heap, so the forked JVM's heap stays small.
 */
final class KernelFixture implements AutoCloseable {
    /** Alignment of every buffer: a cache line, as {@code n4j_alloc} gives. */
    private static final long ALIGN = 64;
    /** The {@code file} of the in-memory weights, named in native error messages. */
    private static final Path SOURCE = Path.of("random-weights");

    private final Arena arena = Arena.ofShared();
    private final SplittableRandom random = new SplittableRandom(2024);
    private final Backend backend;
    private final Kernels kernels;

    /** Creates the CPU backend; a missing or unloadable native library fails here with the library's message. */
    KernelFixture(int threads) {
        try {
            backend = Backend.create(Device.cpu(threads));
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
        kernels = new Kernels(backend);
    }

    Kernels kernels() {
        return kernels;
    }

    Arena arena() {
        return arena;
    }

    /** {@code bytes} of zeroed native memory. */
    MemorySegment zeros(long bytes) {
        return arena.allocate(bytes, ALIGN);
    }

    /** {@code n} F32 values uniform in [lo, hi). */
    MemorySegment floats(long n, float lo, float hi) {
        return values(DType.F32, n, lo, hi, 1f);
    }

    /** {@code n} F32 values uniform in [-1, 1). */
    MemorySegment floats(long n) {
        return floats(n, -1f, 1f);
    }

    /**
     * {@code n} elements of {@code dtype} whose real values are uniform in [lo, hi): F32 and BF16 hold them directly
     * (BF16 rounded to nearest even), F8_E4M3 holds them divided by {@code scale} (the weight scale that multiplies
     * them back).
     */
    MemorySegment values(DType dtype, long n, float lo, float hi, float scale) {
        MemorySegment s = zeros(n * dtype.byteSize());
        for (long i = 0; i < n; i++) {
            float v = lo + (hi - lo) * random.nextFloat();
            switch (dtype) {
                case F32 -> s.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
                case BF16 -> s.setAtIndex(ValueLayout.JAVA_SHORT, i, BFloat16.fromFloat(v));
                case F8_E4M3 -> s.set(ValueLayout.JAVA_BYTE, i, Fp8E4M3.encode(v / scale));
                default -> throw new IllegalArgumentException("no random values of type " + dtype);
            }
        }
        return s;
    }

    /** {@code n} int32 values uniform in [0, bound). */
    MemorySegment ints(long n, int bound) {
        MemorySegment s = zeros(n * Integer.BYTES);
        for (long i = 0; i < n; i++) {
            s.setAtIndex(ValueLayout.JAVA_INT, i, random.nextInt(bound));
        }
        return s;
    }

    /** A host array of the given pointers (per-sequence state tables, KV block tables). */
    MemorySegment pointers(MemorySegment... targets) {
        MemorySegment s = arena.allocate(ValueLayout.ADDRESS, targets.length);
        for (int i = 0; i < targets.length; i++) {
            s.setAtIndex(ValueLayout.ADDRESS, i, targets[i]);
        }
        return s;
    }

    /**
     * A weight of {@code shape} with real values uniform in [lo, hi), stored as {@link #values} does, and
     * {@code scale} in its descriptor.
     */
    NativeWeight scaledWeight(String name, DType dtype, float scale, float lo, float hi, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        TensorInfo tensor = new TensorInfo(name, dtype, shape, values(dtype, n, lo, hi, scale), SOURCE);
        return NativeWeight.of(backend, arena, tensor, scale, 0f);
    }

    /** A weight with real values uniform in [lo, hi) and scale 1 (F32, BF16). */
    NativeWeight weight(String name, DType dtype, float lo, float hi, long... shape) {
        return scaledWeight(name, dtype, 1f, lo, hi, shape);
    }

    @Override
    public void close() {
        try {
            backend.close();
        } finally {
            arena.close();
        }
    }
}
