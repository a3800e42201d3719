/* embedding.h: n4j_embedding on the CPU (see embedding.cpp). */
#ifndef N4J_CPU_EMBEDDING_H
#define N4J_CPU_EMBEDDING_H

#include <stdint.h>

#include "cpu/cpu_context.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {

void embedding_ref(const n4j_weight* table, const int32_t* ids, int32_t n, float* out, int64_t ld_out);
void embedding_fast(context* ctx, const n4j_weight* table, const int32_t* ids, int32_t n, float* out,
                    int64_t ld_out);

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_EMBEDDING_H */
