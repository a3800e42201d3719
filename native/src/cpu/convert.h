/* convert.h: n4j_convert on the CPU (see convert.cpp). */
#ifndef N4J_CPU_CONVERT_H
#define N4J_CPU_CONVERT_H

#include <stdint.h>

#include "cpu/cpu_context.h"

namespace n4j {
namespace cpu {

/* Element by element through F32 (the oracle). */
void convert_ref(const void* src, int32_t src_dtype, void* dst, int32_t dst_dtype, int64_t n);
/* Multithreaded, with F16C for F16 when available; results bitwise equal to convert_ref. */
void convert_fast(context* ctx, const void* src, int32_t src_dtype, void* dst, int32_t dst_dtype, int64_t n);

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_CONVERT_H */
