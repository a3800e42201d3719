/*
 * cpu_backend.h: the CPU backend's operations tables (backend_ops.h).
 *
 * Two tables share lifetime and memory functions: the reference table (N4J_FLAG_REFERENCE_KERNELS: scalar kernels,
 * one thread, the test oracle) and the fast table (thread pool, vectorized and AVX2 kernels chosen at run time).
 */
#ifndef N4J_CPU_BACKEND_H
#define N4J_CPU_BACKEND_H

#include "backend_ops.h"

struct n4j_backend;

namespace n4j {
namespace cpu {

struct context;

const n4j_backend_ops* cpu_backend_ops(bool reference_kernels);

/* The CPU context behind a backend handle, or nullptr for other backends (tests use it to pick SIMD levels). */
context* cpu_context_of(n4j_backend* backend);

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_BACKEND_H */
