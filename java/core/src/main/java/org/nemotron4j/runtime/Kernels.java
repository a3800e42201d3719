package org.nemotron4j.runtime;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.nemotron4j.NemotronException;
import org.nemotron4j.quant.QuantType;
import org.nemotron4j.bindings.n4j_attn_dims;
import org.nemotron4j.bindings.n4j_kv_cache;
import org.nemotron4j.bindings.n4j_ssm_dims;
import org.nemotron4j.bindings.n4j_weight;

import static org.nemotron4j.bindings.nemotron4j_h.*;
import static org.nemotron4j.runtime.Backend.check;

/**
 * The forward-pass kernels of the C ABI on one backend, each call checked: a failing kernel throws a
 * NemotronException with the native library's message. Shapes and layouts are those documented in
 * {@code nemotron4j.h}; {@code ld*} are row strides in elements.
 *
 * <p>The C ABI trusts the sizes it is given, so before every downcall each buffer's {@link MemorySegment#byteSize()}
 * is compared with what the kernel will touch: a [rows, cols] operand with row stride ld of e-byte elements needs
 * {@code ((rows - 1) * ld + cols) * e} bytes (and {@code ld >= cols}); a weight descriptor must describe its own
 * tensor's memory ({@code rows * cols} elements of its dtype at its data address) and have the rows and columns
 * the kernel reads; dims structs and cache descriptors must be whole structs. Element sizes: activations are the
 * backend's activation type; the residual stream (embedding output, rmsnorm input, the first operand and result
 * of add) is F32; SSM states F32; ids and argmax results I32. A violation is a {@link NemotronException} naming the
 * kernel and the argument, and nothing reaches native code. What these checks cannot see is the memory behind
 * pointer tables (conv/SSM state pointers, KV block pointers): those the engine builds from its own allocations;
 * their counts, null entries and the KV coverage are checked.
 */
public final class Kernels {
    private static final long F32 = Float.BYTES;
    private static final long I32 = Integer.BYTES;
    private static final long POINTER = ValueLayout.ADDRESS.byteSize();

    private final Backend backend;
    private volatile MatmulObserver observer;

    public Kernels(Backend backend) {
        this.backend = backend;
    }

    public Backend backend() {
        return backend;
    }

    /**
     * Calls {@code o} with the input of every matmul from now on (null: no more); CPU backend only, whose
     * activations are host memory.
     */
    public void observeMatmulInputs(MatmulObserver o) {
        if (o != null && !backend.isCpu()) {
            throw new NemotronException("matmul inputs can be observed on the CPU backend only");
        }
        observer = o;
    }

    private MemorySegment b() {
        return backend.handle();
    }

    private long act() {
        return backend.activationBytes();
    }

    public void embedding(NativeWeight table, MemorySegment ids, int n, MemorySegment out, long ldOut) {
        String k = "n4j_embedding";
        count(k, "n", n);
        Shape t = weight(k, "table", table);
        matrix(k, "ids", ids, 1, n, n, I32);
        matrix(k, "out", out, n, t.cols, ldOut, F32);
        check(n4j_embedding(b(), table.descriptor(), ids, n, out, ldOut), k);
    }

    public void rmsnorm(MemorySegment x, long ldX, int rows, int dim, NativeWeight w, float eps, MemorySegment out, long ldOut) {
        String k = "n4j_rmsnorm";
        count(k, "rows", rows);
        vector(k, "weight", w, dim);
        matrix(k, "x", x, rows, dim, ldX, F32);
        matrix(k, "out", out, rows, dim, ldOut, act());
        check(n4j_rmsnorm(b(), x, ldX, rows, dim, w.descriptor(), eps, out, ldOut), k);
    }

    public void matmul(MemorySegment x, long ldX, int rows, NativeWeight w, MemorySegment y, long ldY, boolean accumulate) {
        matmul(x, ldX, rows, w, y, ldY, accumulate ? N4J_MATMUL_ACCUMULATE() : N4J_MATMUL_STORE());
    }

    /** y = x W^T with relu^2 applied as the result is stored (the MLP's up projection). */
    public void matmulReluSquared(MemorySegment x, long ldX, int rows, NativeWeight w, MemorySegment y, long ldY) {
        matmul(x, ldX, rows, w, y, ldY, N4J_MATMUL_RELU_SQUARED());
    }

    /**
     * residual += x W^T, the layer output rounded to the activation dtype first (N4J_MATMUL_ADD_TO_RESIDUAL): the output
     * projection and the residual add in one kernel. y is the residual stream: F32 (with BF16 activations the backend
     * has N4J_FLAG_F32_RESIDUAL).
     */
    public void matmulAddToResidual(MemorySegment x, long ldX, int rows, NativeWeight w, MemorySegment y, long ldY) {
        matmul(x, ldX, rows, w, y, ldY, N4J_MATMUL_ADD_TO_RESIDUAL());
    }

    private void matmul(MemorySegment x, long ldX, int rows, NativeWeight w, MemorySegment y, long ldY, int epilogue) {
        String k = "n4j_matmul(" + (w == null ? "null" : w.tensor().name()) + ")";
        count(k, "rows", rows);
        Shape s = weight(k, "weight", w);
        matrix(k, "x", x, rows, s.cols, ldX, act());
        matrix(k, "y", y, rows, s.rows, ldY, epilogue == N4J_MATMUL_ADD_TO_RESIDUAL() ? F32 : act());
        MatmulObserver o = observer;
        if (o != null) {
            o.input(w.tensor().name(), x, ldX, rows, (int) s.cols, act());
        }
        check(n4j_matmul(b(), x, ldX, rows, w.descriptor(), y, ldY, epilogue), k);
    }

    /**
     * normed = rmsnorm(x) (the residual stream, F32) and y = normed W^T in one call (n4j_rmsnorm_matmul): the same
     * results as {@link #rmsnorm} then {@link #matmul}, with one kernel on CUDA for decode (the norm in the GEMV's
     * prologue). normed is still written (other matmuls may read it).
     */
    public void rmsnormMatmul(MemorySegment x, long ldX, int rows, NativeWeight norm, float eps, MemorySegment normed,
                              long ldNormed, NativeWeight w, MemorySegment y, long ldY) {
        rmsnormMatmul(x, ldX, rows, norm, eps, normed, ldNormed, w, y, ldY, N4J_MATMUL_STORE());
    }

    /** {@link #rmsnormMatmul} with relu^2 applied as y is stored (the MLP's norm and up projection). */
    public void rmsnormMatmulReluSquared(MemorySegment x, long ldX, int rows, NativeWeight norm, float eps,
                                         MemorySegment normed, long ldNormed, NativeWeight w, MemorySegment y, long ldY) {
        rmsnormMatmul(x, ldX, rows, norm, eps, normed, ldNormed, w, y, ldY, N4J_MATMUL_RELU_SQUARED());
    }

    private void rmsnormMatmul(MemorySegment x, long ldX, int rows, NativeWeight norm, float eps, MemorySegment normed,
                               long ldNormed, NativeWeight w, MemorySegment y, long ldY, int epilogue) {
        String k = "n4j_rmsnorm_matmul(" + (w == null ? "null" : w.tensor().name()) + ")";
        count(k, "rows", rows);
        Shape s = weight(k, "weight", w);
        int dim = Math.toIntExact(s.cols);
        vector(k, "norm_weight", norm, dim);
        matrix(k, "x", x, rows, dim, ldX, F32);
        matrix(k, "normed", normed, rows, dim, ldNormed, act());
        matrix(k, "y", y, rows, s.rows, ldY, epilogue == N4J_MATMUL_ADD_TO_RESIDUAL() ? F32 : act());
        check(n4j_rmsnorm_matmul(b(), x, ldX, rows, dim, norm.descriptor(), eps, normed, ldNormed, w.descriptor(), y, ldY,
                epilogue), k);
        MatmulObserver o = observer;
        if (o != null) {
            o.input(w.tensor().name(), normed, ldNormed, rows, dim, act());  // the matmul's input, as n4j_matmul saw it
        }
    }

    public void conv1dPrefill(MemorySegment x, long ldX, int tokens, int channels, NativeWeight w, NativeWeight bias,
                              MemorySegment state, boolean silu, MemorySegment out, long ldOut) {
        String k = "n4j_conv1d_prefill";
        count(k, "tokens", tokens);
        count(k, "channels", channels);
        int kernel = convWeight(k, w, bias, channels);
        matrix(k, "x", x, tokens, channels, ldX, act());
        matrix(k, "conv_state", state, channels, kernel, kernel, act());
        matrix(k, "out", out, tokens, channels, ldOut, act());
        check(n4j_conv1d_prefill(b(), x, ldX, tokens, channels, w.descriptor(), bias == null ? MemorySegment.NULL : bias.descriptor(),
                state, silu ? N4J_ACT_SILU() : N4J_ACT_NONE(), out, ldOut), k);
    }

    public void conv1dDecode(int batch, MemorySegment x, long ldX, int channels, NativeWeight w, NativeWeight bias,
                             MemorySegment statePointers, boolean silu, MemorySegment out, long ldOut) {
        String k = "n4j_conv1d_decode";
        count(k, "batch", batch);
        count(k, "channels", channels);
        convWeight(k, w, bias, channels);
        matrix(k, "x", x, batch, channels, ldX, act());
        pointers(k, "conv_states", statePointers, batch);
        matrix(k, "out", out, batch, channels, ldOut, act());
        check(n4j_conv1d_decode(b(), batch, x, ldX, channels, w.descriptor(), bias == null ? MemorySegment.NULL : bias.descriptor(),
                statePointers, silu ? N4J_ACT_SILU() : N4J_ACT_NONE(), out, ldOut), k);
    }

    public void ssdChunkScan(MemorySegment dims, int tokens, MemorySegment x, long ldX, MemorySegment bm, long ldB,
                             MemorySegment cm, long ldC, MemorySegment dt, long ldDt, NativeWeight dtBias, NativeWeight aLog,
                             NativeWeight d, MemorySegment state, MemorySegment y, long ldY) {
        String k = "n4j_ssd_chunk_scan";
        ssmOperands(k, dims, tokens, x, ldX, bm, ldB, cm, ldC, dt, ldDt, dtBias, aLog, d, y, ldY);
        long heads = n4j_ssm_dims.heads(dims);
        matrix(k, "ssm_state", state, 1, heads * n4j_ssm_dims.head_dim(dims) * n4j_ssm_dims.state_dim(dims), 0, F32);
        check(n4j_ssd_chunk_scan(b(), dims, tokens, x, ldX, bm, ldB, cm, ldC, dt, ldDt, dtBias.descriptor(), aLog.descriptor(),
                d.descriptor(), state, y, ldY), k);
    }

    public void ssmScanSequential(MemorySegment dims, int tokens, MemorySegment x, long ldX, MemorySegment bm, long ldB,
                                  MemorySegment cm, long ldC, MemorySegment dt, long ldDt, NativeWeight dtBias, NativeWeight aLog,
                                  NativeWeight d, MemorySegment state, MemorySegment y, long ldY) {
        String k = "n4j_ssm_scan_sequential";
        ssmOperands(k, dims, tokens, x, ldX, bm, ldB, cm, ldC, dt, ldDt, dtBias, aLog, d, y, ldY);
        long heads = n4j_ssm_dims.heads(dims);
        matrix(k, "ssm_state", state, 1, heads * n4j_ssm_dims.head_dim(dims) * n4j_ssm_dims.state_dim(dims), 0, F32);
        check(n4j_ssm_scan_sequential(b(), dims, tokens, x, ldX, bm, ldB, cm, ldC, dt, ldDt, dtBias.descriptor(), aLog.descriptor(),
                d.descriptor(), state, y, ldY), k);
    }

    public void ssmDecode(MemorySegment dims, int batch, MemorySegment x, long ldX, MemorySegment bm, long ldB,
                          MemorySegment cm, long ldC, MemorySegment dt, long ldDt, NativeWeight dtBias, NativeWeight aLog,
                          NativeWeight d, MemorySegment statePointers, MemorySegment y, long ldY) {
        String k = "n4j_ssm_decode";
        ssmOperands(k, dims, batch, x, ldX, bm, ldB, cm, ldC, dt, ldDt, dtBias, aLog, d, y, ldY);
        pointers(k, "ssm_states", statePointers, batch);
        check(n4j_ssm_decode(b(), dims, batch, x, ldX, bm, ldB, cm, ldC, dt, ldDt, dtBias.descriptor(), aLog.descriptor(),
                d.descriptor(), statePointers, y, ldY), k);
    }

    /**
     * The Mamba-2 mixer of a decode step between its projections (n4j_mamba_decode): conv1d step + SiLU, SSM step,
     * gated RMSNorm, one fused kernel on CUDA. zxbcdt: the in_proj output rows z | xBC | dt; y: the scan output (an
     * intermediate); out: the normalized gated output.
     */
    public void mambaDecode(MemorySegment dims, int batch, MemorySegment zxbcdt, long ldIn, NativeWeight convWeight,
                            NativeWeight convBias, NativeWeight dtBias, NativeWeight aLog, NativeWeight d,
                            NativeWeight norm, float eps, MemorySegment convPointers, MemorySegment ssmPointers,
                            MemorySegment y, long ldY, MemorySegment out, long ldOut) {
        String k = "n4j_mamba_decode";
        count(k, "batch", batch);
        struct(k, "dims", dims, n4j_ssm_dims.layout().byteSize());
        long heads = n4j_ssm_dims.heads(dims);
        long headDim = n4j_ssm_dims.head_dim(dims);
        long groups = n4j_ssm_dims.groups(dims);
        long state = n4j_ssm_dims.state_dim(dims);
        if (heads <= 0 || headDim <= 0 || groups <= 0 || state <= 0 || heads % groups != 0) {
            throw bad(k, "dims", "are invalid: heads " + heads + ", head_dim " + headDim + ", groups " + groups
                    + ", state_dim " + state);
        }
        long dInner = heads * headDim;
        long conv = dInner + 2 * groups * state;
        convWeight(k, convWeight, convBias, (int) conv);
        matrix(k, "zxbcdt", zxbcdt, batch, dInner + conv + heads, ldIn, act());
        vector(k, "dt_bias", dtBias, heads);
        vector(k, "A_log", aLog, heads);
        vector(k, "D", d, heads);
        vector(k, "norm", norm, dInner);
        pointers(k, "conv_states", convPointers, batch);
        pointers(k, "ssm_states", ssmPointers, batch);
        matrix(k, "y", y, batch, dInner, ldY, act());
        matrix(k, "out", out, batch, dInner, ldOut, act());
        check(n4j_mamba_decode(b(), dims, batch, zxbcdt, ldIn, convWeight.descriptor(),
                convBias == null ? MemorySegment.NULL : convBias.descriptor(), dtBias.descriptor(), aLog.descriptor(),
                d.descriptor(), norm.descriptor(), eps, convPointers, ssmPointers, y, ldY, out, ldOut), k);
    }

    public void gatedRmsnorm(MemorySegment y, long ldY, MemorySegment z, long ldZ, int rows, int dim, int groups,
                             NativeWeight w, float eps, MemorySegment out, long ldOut) {
        String k = "n4j_gated_rmsnorm";
        count(k, "rows", rows);
        vector(k, "weight", w, dim);
        matrix(k, "y", y, rows, dim, ldY, act());
        matrix(k, "z", z, rows, dim, ldZ, act());
        matrix(k, "out", out, rows, dim, ldOut, act());
        check(n4j_gated_rmsnorm(b(), y, ldY, z, ldZ, rows, dim, groups, w.descriptor(), eps, out, ldOut), k);
    }

    public void attentionPrefill(MemorySegment dims, int tokens, MemorySegment q, long ldQ, MemorySegment k, long ldK,
                                 MemorySegment v, long ldV, MemorySegment cache, MemorySegment out, long ldOut) {
        String kn = "n4j_attention_prefill";
        attentionOperands(kn, dims, tokens, q, ldQ, k, ldK, v, ldV, out, ldOut);
        struct(kn, "cache", cache, n4j_kv_cache.layout().byteSize());
        kvCoverage(kn, "cache", cache, dims, tokens);
        check(n4j_attention_prefill(b(), dims, tokens, q, ldQ, k, ldK, v, ldV, cache, out, ldOut), kn);
    }

    public void attentionDecode(MemorySegment dims, int batch, MemorySegment q, long ldQ, MemorySegment k, long ldK,
                                MemorySegment v, long ldV, MemorySegment caches, MemorySegment out, long ldOut) {
        String kn = "n4j_attention_decode";
        attentionOperands(kn, dims, batch, q, ldQ, k, ldK, v, ldV, out, ldOut);
        long size = n4j_kv_cache.layout().byteSize();
        struct(kn, "caches", caches, batch * size);
        for (int i = 0; i < batch; i++) {
            kvCoverage(kn, "caches[" + i + "]", caches.asSlice(i * size, size), dims, 1);
        }
        check(n4j_attention_decode(b(), dims, batch, q, ldQ, k, ldK, v, ldV, caches, out, ldOut), kn);
    }

    public void reluSquared(MemorySegment x, MemorySegment y, long n) {
        String k = "n4j_relu_squared";
        count(k, "n", n);
        matrix(k, "x", x, 1, n, n, act());
        matrix(k, "y", y, 1, n, n, act());
        check(n4j_relu_squared(b(), x, y, n), k);
    }

    /** y = a + bb over n elements; a and y are the F32 residual stream, bb an activation (N4J_FLAG_F32_RESIDUAL). */
    public void add(MemorySegment a, MemorySegment bb, MemorySegment y, long n) {
        String k = "n4j_add";
        count(k, "n", n);
        matrix(k, "a", a, 1, n, n, F32);
        matrix(k, "b", bb, 1, n, n, act());
        matrix(k, "y", y, 1, n, n, F32);
        check(n4j_add(b(), a, bb, y, n), k);
    }

    public void argmax(MemorySegment x, long ldX, int rows, int cols, MemorySegment out) {
        String k = "n4j_argmax";
        count(k, "rows", rows);
        count(k, "cols", cols);
        matrix(k, "x", x, rows, cols, ldX, act());
        matrix(k, "out", out, 1, rows, rows, I32);
        check(n4j_argmax(b(), x, ldX, rows, cols, out), k);
    }

    // ---- the checks ----

    /** rows x cols of a weight as its descriptor says, checked against the memory it describes. */
    private record Shape(long rows, long cols) {
    }

    private static NemotronException bad(String kernel, String arg, String what) {
        return new NemotronException(kernel + ": argument " + arg + " " + what + " (refused before the native call)");
    }

    private static void count(String kernel, String arg, long n) {
        if (n < 0) {
            throw bad(kernel, arg, "is negative: " + n);
        }
    }

    /**
     * {@code seg} must hold a [rows, cols] matrix of {@code elem}-byte elements with row stride {@code ld} (ignored
     * when rows is 1): {@code ((rows - 1) * ld + cols) * elem} bytes.
     */
    private static void matrix(String kernel, String arg, MemorySegment seg, long rows, long cols, long ld, long elem) {
        if (rows < 0 || cols < 0) {
            throw bad(kernel, arg, "has a negative shape [" + rows + ", " + cols + "]");
        }
        if (rows == 0 || cols == 0) {
            return;
        }
        if (seg == null || seg.isNative() && seg.address() == 0) {
            throw bad(kernel, arg, "is null but must hold [" + rows + ", " + cols + "]");
        }
        if (!seg.isNative()) {
            throw bad(kernel, arg, "is not native memory");
        }
        if (rows > 1 && ld < cols) {
            throw bad(kernel, arg, "has row stride " + ld + " smaller than its " + cols + " columns");
        }
        long need;
        try {
            need = Math.multiplyExact(Math.addExact(Math.multiplyExact(rows - 1, rows > 1 ? ld : 0), cols), elem);
        } catch (ArithmeticException e) {
            throw bad(kernel, arg, "of [" + rows + ", " + cols + "] with stride " + ld + " overflows a 64-bit size");
        }
        if (seg.byteSize() < need) {
            throw bad(kernel, arg, "holds " + seg.byteSize() + " bytes but [" + rows + ", " + cols + "]"
                    + (rows > 1 ? " with row stride " + ld : "") + " of " + elem + "-byte elements needs " + need);
        }
    }

    /** {@code seg} must be at least {@code bytes} long (a struct or an array of structs). */
    private static void struct(String kernel, String arg, MemorySegment seg, long bytes) {
        if (seg == null || !seg.isNative() || seg.address() == 0) {
            throw bad(kernel, arg, "is null or not native memory");
        }
        if (seg.byteSize() < bytes) {
            throw bad(kernel, arg, "holds " + seg.byteSize() + " bytes, less than the " + bytes + " it must");
        }
    }

    /** A table of {@code n} non-null pointers. */
    private static void pointers(String kernel, String arg, MemorySegment table, int n) {
        if (n == 0) {
            return;
        }
        struct(kernel, arg, table, n * POINTER);
        for (int i = 0; i < n; i++) {
            if (table.getAtIndex(ValueLayout.ADDRESS, i).address() == 0) {
                throw bad(kernel, arg + "[" + i + "]", "is a null pointer");
            }
        }
    }

    /**
     * The descriptor of {@code w}, checked to describe {@code w}'s own memory: its data pointer is {@code w.data()}
     * and rows x cols elements of its dtype fit in it.
     */
    private static Shape weight(String kernel, String arg, NativeWeight w) {
        if (w == null) {
            throw bad(kernel, arg, "is null");
        }
        MemorySegment d = w.descriptor();
        struct(kernel, arg + " descriptor", d, n4j_weight.layout().byteSize());
        long rows = n4j_weight.rows(d);
        long cols = n4j_weight.cols(d);
        int dtype = n4j_weight.dtype(d);
        if (dtype == N4J_DTYPE_Q8() || dtype == N4J_DTYPE_Q4() || dtype == N4J_DTYPE_Q6()) {
            // block-quantized (n4j_matmul only): quants then scales in one buffer
            QuantType q = dtype == N4J_DTYPE_Q8() ? QuantType.Q8
                    : dtype == N4J_DTYPE_Q4() ? QuantType.Q4 : QuantType.Q6;
            if (rows <= 0 || cols <= 0 || cols % q.columnMultiple() != 0) {
                throw bad(kernel, arg, "(" + w.tensor().name() + ") is " + q.id() + " of shape [" + rows + ", " + cols
                        + "]: the columns must be a positive multiple of " + q.columnMultiple());
            }
            long bytes = rows * (q.quantsRowBytes(cols) + q.scalesRowBytes(cols));
            if (w.data() == null || n4j_weight.data(d).address() != w.data().address() || w.data().byteSize() < bytes) {
                throw bad(kernel, arg, "(" + w.tensor().name() + ") descriptor does not point at its " + bytes
                        + " bytes of " + q.id() + " data");
            }
            return new Shape(rows, cols);
        }
        long elem = dtype == N4J_DTYPE_F32() ? 4 : dtype == N4J_DTYPE_BF16() ? 2 : dtype == N4J_DTYPE_F8_E4M3() ? 1 : -1;
        if (elem < 0) {
            throw bad(kernel, arg, "(" + w.tensor().name() + ") has dtype code " + dtype + ", which no kernel takes");
        }
        if (rows <= 0 || cols <= 0) {
            throw bad(kernel, arg, "(" + w.tensor().name() + ") has shape [" + rows + ", " + cols + "]");
        }
        if (w.data() == null || n4j_weight.data(d).address() != w.data().address()) {
            throw bad(kernel, arg, "(" + w.tensor().name() + ") descriptor does not point at the weight's data");
        }
        matrix(kernel, arg + " (" + w.tensor().name() + ")", w.data(), rows, cols, cols, elem);
        return new Shape(rows, cols);
    }

    /** A per-channel vector weight of {@code n} elements (rows = n, cols = 1). */
    private static void vector(String kernel, String arg, NativeWeight w, long n) {
        count(kernel, "dim", n);
        Shape s = weight(kernel, arg, w);
        if (s.rows * s.cols != n) {
            throw bad(kernel, arg, "(" + w.tensor().name() + ") has " + s.rows * s.cols + " elements, not " + n);
        }
    }

    /** The conv1d weight [channels, K] and bias [channels] (or null); returns K. */
    private static int convWeight(String kernel, NativeWeight w, NativeWeight bias, int channels) {
        Shape s = weight(kernel, "weight", w);
        if (s.rows != channels) {
            throw bad(kernel, "weight", "(" + w.tensor().name() + ") has " + s.rows + " rows, not channels = " + channels);
        }
        if (bias != null) {
            vector(kernel, "bias", bias, channels);
        }
        return (int) s.cols;
    }

    private void ssmOperands(String k, MemorySegment dims, int tokens, MemorySegment x, long ldX, MemorySegment bm,
                             long ldB, MemorySegment cm, long ldC, MemorySegment dt, long ldDt, NativeWeight dtBias,
                             NativeWeight aLog, NativeWeight d, MemorySegment y, long ldY) {
        count(k, "tokens", tokens);
        struct(k, "dims", dims, n4j_ssm_dims.layout().byteSize());
        long heads = n4j_ssm_dims.heads(dims);
        long headDim = n4j_ssm_dims.head_dim(dims);
        long groups = n4j_ssm_dims.groups(dims);
        long state = n4j_ssm_dims.state_dim(dims);
        if (heads <= 0 || headDim <= 0 || groups <= 0 || state <= 0 || heads % groups != 0) {
            throw bad(k, "dims", "are invalid: heads " + heads + ", head_dim " + headDim + ", groups " + groups
                    + ", state_dim " + state);
        }
        matrix(k, "x", x, tokens, heads * headDim, ldX, act());
        matrix(k, "B", bm, tokens, groups * state, ldB, act());
        matrix(k, "C", cm, tokens, groups * state, ldC, act());
        matrix(k, "dt", dt, tokens, heads, ldDt, act());
        vector(k, "dt_bias", dtBias, heads);
        vector(k, "A_log", aLog, heads);
        vector(k, "D", d, heads);
        matrix(k, "y", y, tokens, heads * headDim, ldY, act());
    }

    private void attentionOperands(String k, MemorySegment dims, int tokens, MemorySegment q, long ldQ,
                                   MemorySegment kk, long ldK, MemorySegment v, long ldV, MemorySegment out, long ldOut) {
        count(k, "tokens", tokens);
        struct(k, "dims", dims, n4j_attn_dims.layout().byteSize());
        long heads = n4j_attn_dims.heads(dims);
        long kvHeads = n4j_attn_dims.kv_heads(dims);
        long headDim = n4j_attn_dims.head_dim(dims);
        if (heads <= 0 || kvHeads <= 0 || headDim <= 0 || heads % kvHeads != 0) {
            throw bad(k, "dims", "are invalid: heads " + heads + ", kv_heads " + kvHeads + ", head_dim " + headDim);
        }
        matrix(k, "q", q, tokens, heads * headDim, ldQ, act());
        matrix(k, "k", kk, tokens, kvHeads * headDim, ldK, act());
        matrix(k, "v", v, tokens, kvHeads * headDim, ldV, act());
        matrix(k, "out", out, tokens, heads * headDim, ldOut, act());
    }

    /** The cache's blocks must cover positions [0, length + tokens), its pointer tables non-null. */
    private static void kvCoverage(String k, String arg, MemorySegment cache, MemorySegment dims, int tokens) {
        long length = n4j_kv_cache.length(cache);
        long blocks = n4j_kv_cache.n_blocks(cache);
        long blockTokens = n4j_kv_cache.block_tokens(cache);
        if (length < 0 || blocks < 0 || blockTokens <= 0) {
            throw bad(k, arg, "is invalid: length " + length + ", n_blocks " + blocks + ", block_tokens " + blockTokens);
        }
        if (blocks * blockTokens < length + tokens) {
            throw bad(k, arg, "has " + blocks + " blocks of " + blockTokens + " tokens, fewer than the " + (length + tokens)
                    + " positions the call writes");
        }
        if (blocks > 0 && (n4j_kv_cache.k_blocks(cache).address() == 0 || n4j_kv_cache.v_blocks(cache).address() == 0)) {
            throw bad(k, arg, "has null block tables");
        }
    }
}
