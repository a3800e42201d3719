/* ssd_chunk_state.cu: kernel 3 of the SSD scan (ssd_chunk_scan.cuh), instantiated for PJ = 2, 3, 5, 8. */
#include "ssd_chunk_scan.cuh"

namespace n4j {
namespace cuda {
namespace ssd {

void chunk_state(const ssd_params& a, cudaStream_t stream) {
    switch (pick_pj(a.head_dim)) {
        case 2: launch_chunk_state<2>(a, stream); break;
        case 3: launch_chunk_state<3>(a, stream); break;
        case 5: launch_chunk_state<5>(a, stream); break;
        default: launch_chunk_state<8>(a, stream); break;
    }
}

}  // namespace ssd
}  // namespace cuda
}  // namespace n4j
