/* argmax.h: n4j_argmax on the CPU (see argmax.cpp). */
#ifndef N4J_CPU_ARGMAX_H
#define N4J_CPU_ARGMAX_H

#include <stdint.h>

#include "cpu/cpu_context.h"

namespace n4j {
namespace cpu {

void argmax_ref(const float* x, int64_t ld_x, int32_t rows, int32_t cols, int32_t* out);
void argmax_fast(context* ctx, const float* x, int64_t ld_x, int32_t rows, int32_t cols, int32_t* out);

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_ARGMAX_H */
