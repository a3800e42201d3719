/*
 * plugin_include/cuda_runtime.h: <cuda_runtime.h> for the emulated plug-in (libnemotron4j_cuda_emu). The real
 * native/src/cuda/context.cuh includes it; it is the CUDA emulator (emu.h) with the emulated runtime (runtime.h),
 * which the build turns on with N4J_CUDA_EMU_RUNTIME.
 */
#ifndef N4J_CUDA_EMU_PLUGIN_CUDA_RUNTIME_H
#define N4J_CUDA_EMU_PLUGIN_CUDA_RUNTIME_H
#ifndef N4J_CUDA_EMU_RUNTIME
#error "plugin_include/cuda_runtime.h is for the emulated plug-in (compile with -DN4J_CUDA_EMU_RUNTIME)"
#endif
#include "emu.h"
#endif
