/*
 * cpu_features.h: which SIMD instruction sets the running CPU has, detected once with __builtin_cpu_supports.
 * Translation units named *_avx2.cpp are compiled with -mavx2 -mfma -mf16c and are only called when
 * cpu_has_avx2_fma_f16c() says so; *_avx512bf16.cpp are compiled with -mavx512f -mavx512bw -mavx512bf16 -mavx512vl -mavx512vnni (and the
 * AVX2 flags) and are only called when cpu_has_avx512_bf16() says so; everything else is compiled for the baseline
 * ISA.
 */
#ifndef N4J_CPU_FEATURES_H
#define N4J_CPU_FEATURES_H

namespace n4j {
namespace cpu {

/* Instruction-set level of the fast kernels. */
/* Each level includes the ones below it: SIMD_AVX512_BF16 runs the AVX2 kernels for every op except matmul over
 * BF16 / E4M3 weights. */
enum simd_level { SIMD_GENERIC = 0, SIMD_AVX2 = 1, SIMD_AVX512_BF16 = 2 };
constexpr int kSimdLevels = 3;

/* True when the CPU (and this build) supports AVX2, FMA and F16C. */
bool cpu_has_avx2_fma_f16c();

/* True when the CPU (with OS support for the 512-bit state) and this build support AVX-512 F/BW/VL, AVX512-BF16
 * and AVX512-VNNI, besides AVX2, FMA and F16C. */
bool cpu_has_avx512_bf16();
/* AVX512-BF16 and AVX512-VBMI: *_vbmi_avx512bf16.cpp (compiled with -mavx512vbmi too) may run. */
bool cpu_has_avx512_vbmi();

/* AMX-TILE and AMX-BF16 on top of AVX512-BF16, with the tile state granted to this process by Linux
 * (arch_prctl ARCH_REQ_XCOMP_PERM, asked once): matmul_amx_avx512bf16.cpp's prefill GEMM may run. An N4J_EMULATE_AVX512BF16
 * build says yes (its tiles are modelled in scalar code). The environment variable N4J_CPU_AMX=0 turns it off. */
bool cpu_has_amx_bf16();

/*
 * How the fast-precision kernels that are written with VDPBF16PS compute a BF16 pair product (decode attention so
 * far): by the instruction (false), or by two F32 FMAs on the pair's halves widened in registers (true; shifts and
 * masks, exact, in the instruction's order, so the results are bitwise those of the instruction except that it
 * flushes denormals). Intel's cores (Cooper Lake to Emerald Rapids) issue a 512-bit VDPBF16PS as two cycles on both
 * FMA ports: 64 FLOP where two FMAs do 64 in one cycle, so the FMA form is faster there; AMD's Zen 4 and Zen 5 run
 * the instruction at full rate. Default: true on a GenuineIntel CPU with AVX512-BF16 (false in an
 * N4J_EMULATE_AVX512BF16 build, whose tests choose). The environment variable N4J_CPU_BF16_DOT=vdpbf16ps|fma|auto
 * decides instead; returns false, with the message in `error`, for any other value.
 */
bool configured_bf16_dot_by_fma(bool* by_fma, char* error, int error_size);

/* The best level this CPU supports. */
simd_level best_simd_level();

/*
 * The level a CPU backend uses: best_simd_level(), lowered by the environment variable N4J_CPU_SIMD (generic,
 * avx2 or avx512bf16; a level above what the CPU has means the best it has). Returns false, with the message in
 * `error`, for any other value.
 */
bool configured_simd_level(simd_level* level, char* error, int error_size);

const char* simd_level_name(simd_level level);

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_FEATURES_H */
