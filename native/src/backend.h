/*
 * backend.h: struct n4j_backend, the object behind the public opaque handle.
 *
 * A backend is its kind and options, the operations table of its implementation (backend_ops.h) with that
 * implementation's context, and the live allocations made through n4j_alloc (pointer -> size), which give
 * n4j_backend_info.allocated_bytes, let n4j_free reject pointers it does not own, and free what is left when
 * the backend is destroyed. Live handles are kept in a registry so that a destroyed or foreign handle is reported
 * as an invalid argument instead of being dereferenced.
 */
#ifndef N4J_BACKEND_H
#define N4J_BACKEND_H

#include <stdint.h>

#include <mutex>
#include <unordered_map>

#include "backend_ops.h"
#include "nemotron4j.h"

struct n4j_backend {
    n4j_backend_options options;
    const n4j_backend_ops* ops = nullptr;
    void* ctx = nullptr;  // the implementation's context (ops->create)

    std::mutex allocations_mutex;
    std::unordered_map<const void*, uint64_t> allocations;
    int64_t allocated_bytes = 0;

    // n4j_step_begin .. n4j_step_end (the dispatch layer keeps the step contract on every backend)
    bool in_step = false;
    int64_t bracketed_steps = 0;  // steps of a backend without step entries (the CPU): all run eagerly
};

namespace n4j {

/* Creates a backend of options->kind (validated options); reports failures through set_error. */
int32_t backend_create(const n4j_backend_options* options, n4j_backend** out_backend);

/* Frees the remaining allocations and the backend, and unregisters it. */
void backend_destroy(n4j_backend* backend);

/* True while `backend` is a handle returned by n4j_backend_create and not yet destroyed. */
bool backend_is_live(const n4j_backend* backend);

/* Allocation bookkeeping around ops->alloc / ops->free. */
int32_t backend_alloc(n4j_backend* backend, uint64_t bytes, void** out_ptr);
/* Returns false when ptr is not a live allocation of this backend. */
bool backend_free(n4j_backend* backend, void* ptr);
int64_t backend_allocated_bytes(n4j_backend* backend);

}  // namespace n4j

#endif /* N4J_BACKEND_H */
