/* ssd_chunk_mma.cu: the tensor-core kernels of the SSD scan (ssd_chunk_mma.cuh): C.B, and the state scan and the
 * chunk output instantiated for PJ = 2, 3, 4, 5, 8. */
#include "ssd_chunk_mma.cuh"

namespace n4j {
namespace cuda {
namespace ssd {

void cb_mma(const ssd_params& a, cudaStream_t stream) {
    const int tiles = static_cast<int>(ceil_div(a.chunk, kMmaCbTile));
    ssd_cb_mma_kernel<<<dim3(static_cast<unsigned>(tiles * tiles), static_cast<unsigned>(a.n_chunks),
                             static_cast<unsigned>(a.groups)),
                        kMmaThreads, 0, stream>>>(a);
}

void state_scan_mma(const ssd_params& a, cudaStream_t stream) {
    switch (pick_pj_mma(a.head_dim)) {
        case 2: launch_state_scan_mma<2>(a, stream); break;
        case 3: launch_state_scan_mma<3>(a, stream); break;
        case 4: launch_state_scan_mma<4>(a, stream); break;
        case 5: launch_state_scan_mma<5>(a, stream); break;
        default: launch_state_scan_mma<8>(a, stream); break;
    }
}

void chunk_output_mma(const ssd_params& a, cudaStream_t stream) {
    switch (pick_pj_mma(a.head_dim)) {
        case 2: launch_chunk_output_mma<2>(a, stream); break;
        case 3: launch_chunk_output_mma<3>(a, stream); break;
        case 4: launch_chunk_output_mma<4>(a, stream); break;
        case 5: launch_chunk_output_mma<5>(a, stream); break;
        default: launch_chunk_output_mma<8>(a, stream); break;
    }
}

}  // namespace ssd
}  // namespace cuda
}  // namespace n4j
