package org.nemotron4j.quant;

import java.util.Optional;
import org.nemotron4j.DType;
import org.nemotron4j.NemotronException;

/**
 * The block-quantized weight types of nemotron4j and their safetensors layout. A quantized Linear weight
 * {@code <module>.weight} of logical shape {@code [rows, cols]} is stored as two tensors, written back to back
 * (quants first) so that the CPU backend can use the mapped file as the one buffer {@code N4J_DTYPE_Q8/Q4/Q6}
 * describe (nemotron4j.h); elsewhere the loader copies them together.
 * <pre>
 *   q8 (cols % 32 == 0), 8.5 bits per weight, like llama.cpp's Q8_0:
 *     &lt;module&gt;.weight         I8  [rows, cols]          q, -127..127
 *     &lt;module&gt;.weight_scales  F16 [rows, cols/32]       d per block of 32:  w[o][i] = d[o][i/32] * q[o][i]
 *   q4 (cols % 64 == 0), 4.625 bits per weight, Q4_K-like with 8-bit sub-block scales and minimums:
 *     &lt;module&gt;.weight         U8  [rows, cols/2]        two 4-bit q (0..15) a byte: sub-blocks 2k, 2k+1 (32 weights
 *                                                      each) share 32 bytes, 2k in the low nibbles, 2k+1 in the high
 *     &lt;module&gt;.weight_scales  U8  [rows, ceil(cols/256), 20]  per super-block of 256 weights (8 sub-blocks; the
 *                                                      last of a row may be shorter): F16 d, F16 dmin (little-endian),
 *                                                      u8 sc[8], u8 m[8]; w = d*sc[j]*q - dmin*m[j] in sub-block j
 *   q6 (cols % 64 == 0), 6.5 bits per weight, like llama.cpp's Q6_K but with q8's plain F16 block scales:
 *     &lt;module&gt;.weight         U8  [rows, cols*3/4]      6-bit q (0..63), in units of 128 weights (the last of
 *                                                      a row may hold 64): p pairs of blocks of 32 (p = 2, or 1)
 *                                                      in 48*p bytes, first the low 4 bits of each pair k as q4's
 *                                                      nibbles (32 bytes: byte t holds element 64k+t low, 64k+32+t
 *                                                      high), then 16 bytes a pair of the high 2 bits (byte u:
 *                                                      elements 64k+u, +16, +32, +48 in bits 0-1, 2-3, 4-5, 6-7)
 *     &lt;module&gt;.weight_scales  F16 [rows, cols/32]       d per block of 32:  w[o][i] = d[o][i/32] * (q[o][i] - 32)
 * </pre>
 * q6 sits between the two: 64 levels a block instead of q4's 16, in 24% fewer bytes than q8. It is there for the
 * tensors q4 is too coarse for, at less cost than q8 (llama.cpp's Q4_K_M keeps some at Q6_K for the same reason).
 * Block order is row-major throughout: row o's blocks, in column order, then row o+1's.
 */
public enum QuantType {
    Q8("q8", 5, 32),
    Q4("q4", 6, 64),
    Q6("q6", 7, 64);

    /** Suffix of the scales tensor: {@code <module>.weight_scales}. */
    public static final String SCALES_SUFFIX = "weight_scales";
    static final int Q4_SUPER = 256;
    static final int Q4_RECORD = 20;
    /** A q6 unit: two pairs of blocks (128 weights) in 96 bytes, 64 of low bits then 32 of high bits. */
    static final int Q6_UNIT = 128;

    private final String id;
    private final int nativeCode;
    private final int block;

    QuantType(String id, int nativeCode, int block) {
        this.id = id;
        this.nativeCode = nativeCode;
        this.block = block;
    }

    /** "q8", "q4" or "q6", as in config.json and on the command line. */
    public String id() {
        return id;
    }

    /** {@code N4J_DTYPE_Q8} (5), {@code N4J_DTYPE_Q4} (6) or {@code N4J_DTYPE_Q6} (7). */
    public int nativeCode() {
        return nativeCode;
    }

    /**
     * The number of columns must be a multiple of this (32 for q8; 64 for q4 and q6: a pair of blocks shares its
     * bytes).
     */
    public int columnMultiple() {
        return block;
    }

    public DType quantsDType() {
        return this == Q8 ? DType.I8 : DType.U8;
    }

    public long[] quantsShape(long rows, long cols) {
        return new long[] {rows, quantsRowBytes(cols)};
    }

    public DType scalesDType() {
        return this == Q4 ? DType.U8 : DType.F16;
    }

    public long[] scalesShape(long rows, long cols) {
        return this == Q4 ? new long[] {rows, Math.ceilDiv(cols, Q4_SUPER), Q4_RECORD} : new long[] {rows, cols / 32};
    }

    /** Bytes of one row's quants and of one row's scales. */
    public long quantsRowBytes(long cols) {
        return switch (this) {
            case Q8 -> cols;
            case Q4 -> cols / 2;
            case Q6 -> cols / 4 * 3;
        };
    }

    public long scalesRowBytes(long cols) {
        return this == Q4 ? Math.ceilDiv(cols, Q4_SUPER) * Q4_RECORD : cols / 32 * 2;
    }

    /**
     * The logical column count of a weight whose quants tensor has {@code quantsCols} columns (the inverse of
     * {@link #quantsShape}'s second dimension): what the loader and the tools read a stored weight's width from.
     */
    public long cols(long quantsCols) {
        return switch (this) {
            case Q8 -> quantsCols;
            case Q4 -> quantsCols * 2;
            case Q6 -> quantsCols / 3 * 4;
        };
    }

    /** Bits per weight including scales, for a row of {@code cols}. */
    public double bitsPerWeight(long cols) {
        return 8.0 * (quantsRowBytes(cols) + scalesRowBytes(cols)) / cols;
    }

    /** The type named {@code id} ("q8", "q4", "q6"). */
    public static Optional<QuantType> find(String id) {
        for (QuantType t : values()) {
            if (t.id.equals(id)) {
                return Optional.of(t);
            }
        }
        return Optional.empty();
    }

    public static QuantType of(String id) {
        return find(id).orElseThrow(() -> new NemotronException("unknown quantization type \"" + id
                + "\" (known: " + ids() + ")"));
    }

    /** The ids of all types, for messages: "q8, q4, q6". */
    public static String ids() {
        return String.join(", ", java.util.Arrays.stream(values()).map(QuantType::id).toList());
    }
}
