/*
 * backend.cpp: backend creation and destruction, the live-handle registry, allocation bookkeeping, and loading the
 * CUDA backend plug-in (libnemotron4j_cuda.so) with dlopen.
 *
 * Plug-in lookup: the path in the environment variable N4J_CUDA_LIBRARY if set, else libnemotron4j_cuda.so in
 * the directory of the library holding this code (found with dladdr). The plug-in's entry point
 * n4j_cuda_backend_ops (backend_ops.h) must return a table of this build's struct_size and version. The plug-in
 * is loaded once and never unloaded (CUDA runtimes do not like being unloaded).
 */
#include "backend.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <new>
#include <string>
#include <unordered_set>

#include "cpu/cpu_backend.h"
#include "error.h"

namespace n4j {

namespace {

std::mutex g_registry_mutex;
std::unordered_set<const n4j_backend*>* g_live_backends = nullptr;  // never destroyed (safe at exit)

void register_backend(const n4j_backend* backend) {
    std::lock_guard<std::mutex> lock(g_registry_mutex);
    if (g_live_backends == nullptr) g_live_backends = new std::unordered_set<const n4j_backend*>();
    g_live_backends->insert(backend);
}

void unregister_backend(const n4j_backend* backend) {
    std::lock_guard<std::mutex> lock(g_registry_mutex);
    if (g_live_backends != nullptr) g_live_backends->erase(backend);
}

void host_set_error(const char* message) { set_error_message(message); }

const n4j_backend_host kHost = {sizeof(n4j_backend_host), N4J_BACKEND_OPS_VERSION, host_set_error};

/* Directory of the shared object (or executable) that contains this code, with a trailing '/'. */
std::string own_directory() {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&own_directory), &info) == 0 || info.dli_fname == nullptr) return "";
    std::string path = info.dli_fname;
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string("./") : path.substr(0, slash + 1);
}

std::string own_file_name() {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&own_directory), &info) == 0 || info.dli_fname == nullptr) {
        return "libnemotron4j.so";
    }
    return info.dli_fname;
}

std::mutex g_plugin_mutex;
const n4j_backend_ops* g_cuda_ops = nullptr;

/* Loads the CUDA plug-in's operations table, or reports why not (N4J_ERR_UNSUPPORTED). */
int32_t load_cuda_ops(const n4j_backend_ops** out_ops) {
    std::lock_guard<std::mutex> lock(g_plugin_mutex);
    if (g_cuda_ops != nullptr) {
        *out_ops = g_cuda_ops;
        return N4J_OK;
    }
    const char* env = getenv("N4J_CUDA_LIBRARY");
    const bool from_env = env != nullptr && env[0] != '\0';
    const std::string path = from_env ? std::string(env) : own_directory() + "libnemotron4j_cuda.so";
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = dlerror();
        if (from_env) {
            return set_error(N4J_ERR_UNSUPPORTED,
                             "n4j_backend_create: cannot load the CUDA backend library '%s' named by "
                             "N4J_CUDA_LIBRARY: %s",
                             path.c_str(), why != nullptr ? why : "unknown error");
        }
        return set_error(N4J_ERR_UNSUPPORTED,
                         "n4j_backend_create: CUDA backend library libnemotron4j_cuda.so not found next to %s "
                         "(set N4J_CUDA_LIBRARY to its path): %s",
                         own_file_name().c_str(), why != nullptr ? why : "unknown error");
    }
    dlerror();
    void* symbol = dlsym(handle, "n4j_cuda_backend_ops");
    if (symbol == nullptr) {
        return set_error(N4J_ERR_UNSUPPORTED,
                         "n4j_backend_create: %s does not export n4j_cuda_backend_ops (not a nemotron4j CUDA "
                         "backend library)",
                         path.c_str());
    }
    n4j_backend_ops_entry entry = reinterpret_cast<n4j_backend_ops_entry>(symbol);
    const n4j_backend_ops* ops = entry();
    if (ops == nullptr || ops->struct_size != sizeof(n4j_backend_ops) || ops->version != N4J_BACKEND_OPS_VERSION) {
        return set_error(N4J_ERR_UNSUPPORTED,
                         "n4j_backend_create: %s was built against another backend interface (ops version %u, "
                         "size %u; this library expects version %u, size %u)",
                         path.c_str(), ops != nullptr ? ops->version : 0u, ops != nullptr ? ops->struct_size : 0u,
                         static_cast<unsigned>(N4J_BACKEND_OPS_VERSION),
                         static_cast<unsigned>(sizeof(n4j_backend_ops)));
    }
    g_cuda_ops = ops;
    *out_ops = ops;
    return N4J_OK;
}

}  // namespace

int32_t backend_create(const n4j_backend_options* options, n4j_backend** out_backend) {
    const n4j_backend_ops* ops = nullptr;
    if (options->kind == N4J_BACKEND_CPU) {
        ops = cpu::cpu_backend_ops((options->flags & N4J_FLAG_REFERENCE_KERNELS) != 0);
    } else {
        int32_t status = load_cuda_ops(&ops);
        if (status != N4J_OK) return status;
    }
    n4j_backend* backend = new (std::nothrow) n4j_backend();
    if (backend == nullptr) return set_error(N4J_ERR_OUT_OF_MEMORY, "n4j_backend_create: out of memory");
    backend->options = *options;
    backend->ops = ops;
    int32_t status = ops->create(options, &kHost, &backend->ctx);
    if (status != N4J_OK) {
        delete backend;
        return status;
    }
    register_backend(backend);
    *out_backend = backend;
    return N4J_OK;
}

void backend_destroy(n4j_backend* backend) {
    unregister_backend(backend);
    {
        std::lock_guard<std::mutex> lock(backend->allocations_mutex);
        for (const auto& a : backend->allocations) backend->ops->free(backend->ctx, const_cast<void*>(a.first), a.second);
        backend->allocations.clear();
        backend->allocated_bytes = 0;
    }
    backend->ops->destroy(backend->ctx);
    delete backend;
}

bool backend_is_live(const n4j_backend* backend) {
    std::lock_guard<std::mutex> lock(g_registry_mutex);
    return g_live_backends != nullptr && g_live_backends->count(backend) != 0;
}

int32_t backend_alloc(n4j_backend* backend, uint64_t bytes, void** out_ptr) {
    void* p = nullptr;
    int32_t status = backend->ops->alloc(backend->ctx, bytes, &p);
    if (status != N4J_OK) return status;
    std::lock_guard<std::mutex> lock(backend->allocations_mutex);
    try {
        backend->allocations.emplace(p, bytes);
    } catch (...) {
        backend->ops->free(backend->ctx, p, bytes);
        throw;
    }
    backend->allocated_bytes += static_cast<int64_t>(bytes);
    *out_ptr = p;
    return N4J_OK;
}

bool backend_free(n4j_backend* backend, void* ptr) {
    uint64_t bytes = 0;
    {
        std::lock_guard<std::mutex> lock(backend->allocations_mutex);
        auto it = backend->allocations.find(ptr);
        if (it == backend->allocations.end()) return false;
        bytes = it->second;
        backend->allocations.erase(it);
        backend->allocated_bytes -= static_cast<int64_t>(bytes);
    }
    backend->ops->free(backend->ctx, ptr, bytes);
    return true;
}

int64_t backend_allocated_bytes(n4j_backend* backend) {
    std::lock_guard<std::mutex> lock(backend->allocations_mutex);
    return backend->allocated_bytes;
}

}  // namespace n4j
