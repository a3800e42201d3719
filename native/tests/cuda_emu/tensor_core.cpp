/*
 * tensor_core.cpp: the functional tensor-core models of the CUDA emulator (see tensor_core.h for what is modelled,
 * the PTX ISA sections each model transcribes, and what is checked).
 *
 * Both instructions are warp collectives built on emu::warp_collective: every lane deposits its operands (ldmatrix:
 * its row address; mma: its A, B and C fragment registers), and the lane that completes the warp evaluates the
 * instruction for all 32 lanes at that instant. The mma model scatters every lane's fragments into whole matrices
 * with the PTX tables' "row and column of a matrix fragment" formulas exactly as printed, multiplies, and gathers
 * each lane's D fragment with the same formulas.
 */
#include "tensor_core.h"

#include <math.h>
#include <string.h>

namespace emu {

namespace {

uint16_t lo16(uint32_t v) { return static_cast<uint16_t>(v & 0xffffu); }
uint16_t hi16(uint32_t v) { return static_cast<uint16_t>(v >> 16); }
double bf16_value(uint16_t bits) {
    const uint32_t f = static_cast<uint32_t>(bits) << 16;
    float v;
    memcpy(&v, &f, 4);
    return v;
}

const char* ldmatrix_name(int num, bool trans) {
    // One literal per variant: lanes executing different variants at one site are reported as divergent.
    static const char* const names[2][3] = {
        {"ldmatrix.sync.aligned.m8n8.x1.shared.b16", "ldmatrix.sync.aligned.m8n8.x2.shared.b16",
         "ldmatrix.sync.aligned.m8n8.x4.shared.b16"},
        {"ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16", "ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16",
         "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"}};
    return names[trans ? 1 : 0][num == 1 ? 0 : num == 2 ? 1 : 2];
}

}  // namespace

/*
 * PTX ISA 9.7.14.5.15 "Warp-level matrix load instruction: ldmatrix", shape .m8n8, type .b16:
 *   - ".x1, .x2 and .x4 for .num indicate one, two or four matrices"; the row addresses come from threads 0-7
 *     (.x1), 0-15 (.x2) or 0-31 (.x4): addresses addr0-addr7 are the 8 rows of the first matrix, addr8-addr15 of
 *     the second, and so on. Each row is 8 16-bit elements (16 bytes), naturally aligned.
 *   - "Each component of the vector expression holds a fragment from the corresponding matrix": r[m] <- matrix m.
 *   - Fragment layout (the ldmatrix fragment figure): "a group of four threads loads an entire row of the matrix":
 *     thread t holds row t >> 2, elements (t % 4) * 2 and (t % 4) * 2 + 1, the lower-numbered element in the low
 *     16 bits of the register.
 *   - ".trans indicates that the matrix is loaded in column-major format": thread t then holds the elements at
 *     rows (t % 4) * 2 and (t % 4) * 2 + 1 of column t >> 2 of the matrix as stored (row addresses as above).
 */
namespace {

struct ldmatrix_arg {
    int num;
    bool trans;
};

/* deposits: 32 row addresses; results: 4 registers per lane. */
void ldmatrix_compute(const unsigned char* deposits, unsigned char* results, const void* varg) {
    const ldmatrix_arg& arg = *static_cast<const ldmatrix_arg*>(varg);
    const void* rows[32];
    memcpy(rows, deposits, sizeof(rows));
    for (int t = 0; t < 32; ++t) {
        uint32_t r[4] = {0, 0, 0, 0};
        for (int m = 0; m < arg.num; ++m) {
            uint16_t e[2];
            for (int i = 0; i < 2; ++i) {
                if (!arg.trans) {
                    const uint16_t* p = static_cast<const uint16_t*>(rows[8 * m + (t >> 2)]);
                    e[i] = p[(t % 4) * 2 + i];
                } else {
                    const uint16_t* p = static_cast<const uint16_t*>(rows[8 * m + (t % 4) * 2 + i]);
                    e[i] = p[t >> 2];
                }
            }
            r[m] = static_cast<uint32_t>(e[0]) | (static_cast<uint32_t>(e[1]) << 16);
        }
        memcpy(results + t * sizeof(r), r, sizeof(r));
    }
}

}  // namespace

void ldmatrix_m8n8_b16(uint32_t* r, int num, bool trans, const void* row, site s) {
    if (num != 1 && num != 2 && num != 4) fatal("ldmatrix .x%d: only .x1, .x2 and .x4 exist", num);
    const char* what = ldmatrix_name(num, trans);
    const int lane = lane_id();
    if (lane < 8 * num) {
        if ((reinterpret_cast<uintptr_t>(row) & 15u) != 0) {
            fatal("%s at %s:%d: lane %d's row address %p is not 16-byte aligned", what, s.file, s.line, lane, row);
        }
        if (!is_shared_memory(row, 16)) {
            fatal("%s at %s:%d: lane %d's row address %p (16 bytes) is not inside this block's shared memory", what,
                  s.file, s.line, lane, row);
        }
    }
    const ldmatrix_arg arg = {num, trans};
    uint32_t out[4];
    warp_collective(&row, sizeof(row), out, sizeof(out), ldmatrix_compute, &arg, s, what);
    for (int m = 0; m < num; ++m) r[m] = out[m];
}

/*
 * PTX ISA 9.7.14.5.8 "Matrix Fragments for mma.m16n8k16 with floating point type", .bf16 multiplicands and .f32
 * accumulators; groupID = %laneid >> 2, threadID_in_group = %laneid % 4:
 *   A (16 x 16, .row): four .b32 registers holding a0..a7 (two bf16 each, low half first)
 *       row = groupID            for ai where 0 <= i < 2 || 4 <= i < 6
 *             groupID + 8        otherwise
 *       col = (threadID_in_group * 2) + (i & 0x1)        for ai where i < 4
 *             (threadID_in_group * 2) + (i & 0x1) + 8    for ai where i >= 4
 *   B (16 x 8, .col): two .b32 registers holding b0..b3
 *       row = (threadID_in_group * 2) + (i & 0x1)        for bi where i < 2
 *             (threadID_in_group * 2) + (i & 0x1) + 8    for bi where i >= 2
 *       col = groupID
 *   C, D (16 x 8, .f32): four .f32 registers c0..c3
 *       row = groupID            for ci where i < 2
 *             groupID + 8        for ci where i >= 2
 *       col = (threadID_in_group * 2) + (i & 0x1)        for ci where i = {0,..,3}
 * and D = A * B + C (9.7.14.5.14).
 */
namespace {

struct mma_operands {
    uint32_t a[4];
    uint32_t b[2];
    float c[4];
};

/* deposits: 32 mma_operands; results: 4 floats (d) per lane. */
void mma_compute(const unsigned char* deposits, unsigned char* results, const void*) {
    mma_operands all[32];
    memcpy(all, deposits, sizeof(all));
    double A[16][16], B[16][8], C[16][8];
    for (int lane = 0; lane < 32; ++lane) {
        const int groupID = lane >> 2;
        const int threadID_in_group = lane % 4;
        for (int i = 0; i < 8; ++i) {
            const int row = (i < 2 || (4 <= i && i < 6)) ? groupID : groupID + 8;
            const int col = i < 4 ? (threadID_in_group * 2) + (i & 0x1) : (threadID_in_group * 2) + (i & 0x1) + 8;
            const uint32_t reg = all[lane].a[i / 2];
            A[row][col] = bf16_value((i & 1) ? hi16(reg) : lo16(reg));
        }
        for (int i = 0; i < 4; ++i) {
            const int row = i < 2 ? (threadID_in_group * 2) + (i & 0x1) : (threadID_in_group * 2) + (i & 0x1) + 8;
            const int col = groupID;
            const uint32_t reg = all[lane].b[i / 2];
            B[row][col] = bf16_value((i & 1) ? hi16(reg) : lo16(reg));
        }
        for (int i = 0; i < 4; ++i) {
            const int row = i < 2 ? groupID : groupID + 8;
            const int col = (threadID_in_group * 2) + (i & 0x1);
            C[row][col] = all[lane].c[i];
        }
    }
    for (int lane = 0; lane < 32; ++lane) {
        const int groupID = lane >> 2;
        const int threadID_in_group = lane % 4;
        float d[4];
        for (int i = 0; i < 4; ++i) {
            const int row = i < 2 ? groupID : groupID + 8;
            const int col = (threadID_in_group * 2) + (i & 0x1);
            double sum = C[row][col];
            for (int k = 0; k < 16; ++k) sum += A[row][k] * B[k][col];
            d[i] = static_cast<float>(sum);
        }
        memcpy(results + lane * sizeof(d), d, sizeof(d));
    }
}

}  // namespace

void mma_m16n8k16_bf16_f32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4], site s) {
    static_assert(sizeof(mma_operands) <= kCollectiveBytes, "mma operands exceed the collective buffer");
    mma_operands mine;
    memcpy(mine.a, a, sizeof(mine.a));
    memcpy(mine.b, b, sizeof(mine.b));
    memcpy(mine.c, c, sizeof(mine.c));
    float out[4];
    warp_collective(&mine, sizeof(mine), out, sizeof(out), mma_compute, nullptr, s,
                    "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32");
    memcpy(d, out, sizeof(out));
}

/*
 * PTX ISA 9.7.14.5 "Matrix Fragments for mma.m16n8k32", multiplicand types .s8 / .u8 / .e4m3 / .e5m2 (one layout),
 * .f32 accumulators; groupID = %laneid >> 2, threadID_in_group = %laneid % 4:
 *   A (16 x 32, .row): four .b32 registers holding a0..a15 (four 8-bit elements each, a0 in the low byte of the
 *   first register)
 *       row = groupID            for ai where 0 <= i < 4 || 8 <= i < 12
 *             groupID + 8        otherwise
 *       col = (threadID_in_group * 4) + (i & 0x3)        for ai where i < 8
 *             (threadID_in_group * 4) + (i & 0x3) + 16   for ai where i >= 8
 *   B (32 x 8, .col): two .b32 registers holding b0..b7
 *       row = (threadID_in_group * 4) + (i & 0x3)        for bi where i < 4
 *             (threadID_in_group * 4) + (i & 0x3) + 16   for bi where i >= 4
 *       col = groupID
 *   C, D (16 x 8, .f32): as for m16n8k16 above.
 * and D = A * B + C (9.7.14.5.14; .e4m3 needs sm_89).
 */
double e4m3_value(uint8_t bits) {
    const int e = (bits >> 3) & 0xf;
    const int m = bits & 0x7;
    double mag;
    if (e == 15 && m == 7) {
        mag = NAN;
    } else if (e == 0) {
        mag = ldexp(static_cast<double>(m), -9);  // subnormal: 0.m * 2^-6
    } else {
        mag = ldexp(1.0 + m / 8.0, e - 7);
    }
    return (bits & 0x80) ? -mag : mag;
}

namespace {

/* deposits: 32 mma_operands (the same registers as m16n8k16: 4 A, 2 B, 4 C); results: 4 floats (d) per lane. */
void mma_e4m3_compute(const unsigned char* deposits, unsigned char* results, const void*) {
    mma_operands all[32];
    memcpy(all, deposits, sizeof(all));
    double A[16][32], B[32][8], C[16][8];
    for (int lane = 0; lane < 32; ++lane) {
        const int groupID = lane >> 2;
        const int threadID_in_group = lane % 4;
        for (int i = 0; i < 16; ++i) {
            const int row = (i < 4 || (8 <= i && i < 12)) ? groupID : groupID + 8;
            const int col = i < 8 ? (threadID_in_group * 4) + (i & 0x3) : (threadID_in_group * 4) + (i & 0x3) + 16;
            const uint32_t reg = all[lane].a[i / 4];
            A[row][col] = e4m3_value(static_cast<uint8_t>(reg >> (8 * (i % 4))));
        }
        for (int i = 0; i < 8; ++i) {
            const int row = i < 4 ? (threadID_in_group * 4) + (i & 0x3) : (threadID_in_group * 4) + (i & 0x3) + 16;
            const int col = groupID;
            const uint32_t reg = all[lane].b[i / 4];
            B[row][col] = e4m3_value(static_cast<uint8_t>(reg >> (8 * (i % 4))));
        }
        for (int i = 0; i < 4; ++i) {
            const int row = i < 2 ? groupID : groupID + 8;
            const int col = (threadID_in_group * 2) + (i & 0x1);
            C[row][col] = all[lane].c[i];
        }
    }
    for (int lane = 0; lane < 32; ++lane) {
        const int groupID = lane >> 2;
        const int threadID_in_group = lane % 4;
        float d[4];
        for (int i = 0; i < 4; ++i) {
            const int row = i < 2 ? groupID : groupID + 8;
            const int col = (threadID_in_group * 2) + (i & 0x1);
            double sum = C[row][col];
            for (int k = 0; k < 32; ++k) sum += A[row][k] * B[k][col];
            d[i] = static_cast<float>(sum);
        }
        memcpy(results + lane * sizeof(d), d, sizeof(d));
    }
}

}  // namespace

void mma_m16n8k32_e4m3_f32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4], site s) {
    mma_operands mine;
    memcpy(mine.a, a, sizeof(mine.a));
    memcpy(mine.b, b, sizeof(mine.b));
    memcpy(mine.c, c, sizeof(mine.c));
    float out[4];
    warp_collective(&mine, sizeof(mine), out, sizeof(out), mma_e4m3_compute, nullptr, s,
                    "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32");
    memcpy(d, out, sizeof(out));
}

}  // namespace emu
