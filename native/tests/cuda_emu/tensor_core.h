/*
 * tensor_core.h: functional models of the warp-level tensor-core instructions the backend's kernels use, for the
 * CUDA emulator (emu.h). Written from the PTX ISA (NVIDIA, "Parallel Thread Execution ISA", chapter 9.7.14
 * "Warp Level Matrix Multiply-Accumulate Instructions"), never from the kernels; cuda_emu_test.cpp tests each model
 * on its own against a plain matrix product on random data ("tensor_cores" test) before any kernel uses it.
 *
 * Modelled (every tensor-core instruction of native/src/cuda: common.cuh's ldmatrix_x4, ldmatrix_x4_trans,
 * mma_bf16_16816 and mma_e4m3_16832; gemm_mma_f8 (weight-only FP8) expands e4m3 to bf16 in shared memory and so
 * uses m16n8k16 bf16, the W8A8 GEMM (gemm_mma_w8a8.cu) the e4m3 mma; there is no cp.async in the kernels; emu.h has
 * a cp.async model, tested on its own, for when one comes):
 *   - ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{.trans}.shared.b16  (9.7.14.5.15 "Warp-level matrix load instruction:
 *     ldmatrix")
 *   - mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32        (9.7.14.5.8 "Matrix Fragments for mma.m16n8k16
 *     with floating point type"; the instruction: 9.7.14.5.14 "Multiply-and-Accumulate Instruction: mma")
 *   - mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32        ("Matrix Fragments for mma.m16n8k32" in 9.7.14.5,
 *     the .e4m3 / .e5m2 / .s8 / .u8 layout: 4 elements per .b32 register, lowest k in the low byte; sm_89+)
 *
 * Each instruction is evaluated once for the whole warp, at the instant its 32 lanes have converged (ldmatrix reads
 * shared memory then, for every lane), so a missing barrier before it reads what the other warps have not yet
 * stored. Warp-collective semantics are checked, not assumed: the instruction is ".sync.aligned", so all 32 lanes must
 * execute the same instruction (same source site, same qualifiers) with no lane exited; anything else aborts, as
 * the shuffles do (emu::warp_collective). ldmatrix also checks what PTX requires of each row address it uses: inside
 * this block's shared memory (a generic address outside .shared is undefined behaviour) and 16-byte aligned.
 *
 * Section numbers are those of PTX ISA 8.x / 9.0 (older versions number the chapter 9.7.13); the names are stable.
 *
 * Numerics of the mma model: bf16 x bf16 products are exact (16 significant bits); the model adds the 16 products
 * and the fp32 accumulator in double precision (exact unless their magnitudes span more than ~2^37) and rounds once
 * to fp32 (nearest even). The hardware adds in its own internal format (not IEEE sequential fp32), so results may
 * differ from a GPU's in the last bits of the fp32 result; no kernel test depends on those bits.
 * The e4m3 model is the same: e4m3 x e4m3 products are exact (8 significant bits), 32 of them and C are added in
 * double and rounded once. (FP8 tensor cores on Hopper are known to accumulate with fewer bits than fp32 inside one
 * instruction sequence; the model does not reproduce that, the W8A8 tests' tolerances do not depend on it.) e4m3
 * NaN operands (0x7F / 0xFF) give NaN.
 */
#ifndef N4J_CUDA_EMU_TENSOR_CORE_H
#define N4J_CUDA_EMU_TENSOR_CORE_H

#include <stdint.h>

#include "emu.h"

namespace emu {

/* ldmatrix.sync.aligned.m8n8.x{num}{.trans}.shared.b16 r, [row]: `row` is this lane's row address (lanes
 * 8m..8m+7 give the 8 rows of matrix m; lanes >= 8 * num are ignored); r[m] receives this lane's fragment of
 * matrix m. */
void ldmatrix_m8n8_b16(uint32_t* r, int num, bool trans, const void* row, site s);

/* mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 d, a, b, c (d may alias c). */
void mma_m16n8k16_bf16_f32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4], site s);

/* mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 d, a, b, c (d may alias c). */
void mma_m16n8k32_e4m3_f32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4], site s);

/* The exact value of an e4m3 (OCP E4M3FN) byte, NaN for 0x7F / 0xFF (written from the OCP FP8 specification). */
double e4m3_value(uint8_t bits);

}  // namespace emu

#endif /* N4J_CUDA_EMU_TENSOR_CORE_H */
