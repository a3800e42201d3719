/* elementwise.h: n4j_relu_squared and n4j_add on the CPU (see elementwise.cpp). */
#ifndef N4J_CPU_ELEMENTWISE_H
#define N4J_CPU_ELEMENTWISE_H

#include <stdint.h>

#include "cpu/cpu_context.h"

namespace n4j {
namespace cpu {

void relu_squared_ref(const float* x, float* y, int64_t n);
void relu_squared_fast(context* ctx, const float* x, float* y, int64_t n);
void add_ref(const float* a, const float* b, float* y, int64_t n);
void add_fast(context* ctx, const float* a, const float* b, float* y, int64_t n);

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_ELEMENTWISE_H */
