/*
 * cpu_context.h: the state of a CPU backend that kernels see: reference-or-fast, SIMD level, the thread pool and
 * reusable scratch memory.
 *
 * Scratch: one growable 64-byte-aligned buffer per thread plus one shared buffer. A kernel sizes them before it
 * starts parallel work (reserve_*), then tasks use thread_scratch(thread) without allocating. Buffers only grow,
 * so after the first call with the largest shape the hot paths allocate nothing.
 */
#ifndef N4J_CPU_CONTEXT_H
#define N4J_CPU_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include <memory>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"

namespace n4j {
namespace cpu {

/* A 64-byte-aligned buffer that only grows. */
class scratch_buffer {
public:
    scratch_buffer() = default;
    ~scratch_buffer();
    scratch_buffer(const scratch_buffer&) = delete;
    scratch_buffer& operator=(const scratch_buffer&) = delete;
    scratch_buffer(scratch_buffer&& other) noexcept : data_(other.data_), capacity_(other.capacity_) {
        other.data_ = nullptr;
        other.capacity_ = 0;
    }
    /* Makes room for `bytes` (contents are not preserved); throws std::bad_alloc. */
    void reserve(size_t bytes);
    void* data() const { return data_; }
    size_t capacity() const { return capacity_; }

private:
    void* data_ = nullptr;
    size_t capacity_ = 0;
};

struct context {
    bool reference = false;  // N4J_FLAG_REFERENCE_KERNELS: scalar oracle kernels only
    bool act_bf16 = false;   // activation_dtype BF16: ops widen bf16 activations to F32 and round results back
    bool f32_residual = false;  // N4J_FLAG_F32_RESIDUAL (with BF16): embedding out, rmsnorm x, add a/y are F32
    bool bf16_matmul = false;   // N4J_FLAG_BF16_MATMUL or BF16 activations: matmul may round its input to BF16
    bool fp8_w8a8 = false;      // N4J_FLAG_FP8_W8A8: F8 weights with input_scale > 0 run W8A8 (matmul.cpp)
    simd_level simd = SIMD_GENERIC;
    bool bf16_dot_by_fma = false;  // configured_bf16_dot_by_fma (cpu_features.h): the FMA form of VDPBF16PS kernels
    int threads = 1;
    /* Budget of the chunked scan's shared C.B^T scratch, in floats (tests lower it to exercise windowing). */
    int64_t ssd_cb_budget_floats = int64_t(8) << 20;
    std::unique_ptr<thread_pool> pool;
    std::vector<scratch_buffer> thread_scratch_buffers;  // one per thread
    scratch_buffer shared_scratch_buffer;
    scratch_buffer w8a8_x_buffer;    // W8A8: the quantized activations (F32 e4m3 values), rows x K
    scratch_buffer w8a8_acc_buffer;  // W8A8 with N4J_MATMUL_ACCUMULATE: the unscaled sums, rows x O
    std::vector<int64_t> decode_first_task;  // attention decode: first task of each sequence (reused, grows only)

    thread_pool& workers() { return *pool; }
    void reserve_thread_scratch(size_t bytes) {
        for (auto& b : thread_scratch_buffers) b.reserve(bytes);
    }
    void* thread_scratch(int thread) { return thread_scratch_buffers[static_cast<size_t>(thread)].data(); }
    void* shared_scratch(size_t bytes) {
        shared_scratch_buffer.reserve(bytes);
        return shared_scratch_buffer.data();
    }
};

/* Rounds a byte count up to a multiple of 64 (to carve aligned pieces out of one scratch buffer). */
static inline size_t align64(size_t bytes) { return (bytes + 63) & ~static_cast<size_t>(63); }

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_CONTEXT_H */
