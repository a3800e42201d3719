/*
 * fake_cuda_plugin.cpp: a stand-in for libnemotron4j_cuda.so used by test_api to exercise the plug-in path of
 * n4j_backend_create (dlopen, n4j_cuda_backend_ops, version check, dispatch through a foreign table, allocation
 * bookkeeping). It serves the CPU reference kernels but declares its memory non-host, as a GPU backend would.
 * Built twice: as a current plug-in and, with N4J_FAKE_PLUGIN_OLD_VERSION, as one built against an older interface.
 */
#include <string.h>

#include "backend_ops.h"
#include "cpu/cpu_backend.h"

extern "C" __attribute__((visibility("default"))) const n4j_backend_ops* n4j_cuda_backend_ops(void) {
    static n4j_backend_ops ops = [] {
        n4j_backend_ops table;
        memcpy(&table, n4j::cpu::cpu_backend_ops(true), sizeof(table));
        table.memory_is_host = 0;
#ifdef N4J_FAKE_PLUGIN_OLD_VERSION
        table.version = N4J_BACKEND_OPS_VERSION + 100;
#endif
        return table;
    }();
    return &ops;
}
