/* ssd_chunk_scan.h: n4j_ssd_chunk_scan on the CPU (see ssd_chunk_scan.cpp). */
#ifndef N4J_CPU_SSD_CHUNK_SCAN_H
#define N4J_CPU_SSD_CHUNK_SCAN_H

#include <stdint.h>

#include "cpu/cpu_context.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {

void ssd_chunk_scan_ref(const n4j_ssm_dims* dims, int32_t tokens, const float* x, int64_t ld_x, const float* B,
                        int64_t ld_B, const float* C, int64_t ld_C, const float* dt, int64_t ld_dt,
                        const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D, float* ssm_state,
                        float* y, int64_t ld_y);
void ssd_chunk_scan_fast(context* ctx, const n4j_ssm_dims* dims, int32_t tokens, const float* x, int64_t ld_x,
                         const float* B, int64_t ld_B, const float* C, int64_t ld_C, const float* dt, int64_t ld_dt,
                         const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                         float* ssm_state, float* y, int64_t ld_y);

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_SSD_CHUNK_SCAN_H */
