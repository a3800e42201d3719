/*
 * struct_layout.cpp: n4j_struct_size / n4j_struct_offset, the native side of the bindings test: every public
 * struct of nemotron4j.h and every one of its fields, by name, as this compiler lays them out.
 */
#include <stddef.h>
#include <string.h>

#include "export.h"
#include "nemotron4j.h"

namespace {

struct field_entry {
    const char* struct_name;
    const char* field_name;  // nullptr: the struct itself (value = sizeof)
    int64_t value;
};

#define N4J_STRUCT(s) {#s, nullptr, static_cast<int64_t>(sizeof(s))}
#define N4J_FIELD(s, f) {#s, #f, static_cast<int64_t>(offsetof(s, f))}

const field_entry kLayout[] = {
    N4J_STRUCT(n4j_backend_options),
    N4J_FIELD(n4j_backend_options, kind),
    N4J_FIELD(n4j_backend_options, device),
    N4J_FIELD(n4j_backend_options, threads),
    N4J_FIELD(n4j_backend_options, flags),
    N4J_FIELD(n4j_backend_options, activation_dtype),
    N4J_FIELD(n4j_backend_options, reserved),

    N4J_STRUCT(n4j_backend_info),
    N4J_FIELD(n4j_backend_info, kind),
    N4J_FIELD(n4j_backend_info, device),
    N4J_FIELD(n4j_backend_info, threads),
    N4J_FIELD(n4j_backend_info, activation_dtype),
    N4J_FIELD(n4j_backend_info, total_memory),
    N4J_FIELD(n4j_backend_info, allocated_bytes),
    N4J_FIELD(n4j_backend_info, name),

    N4J_STRUCT(n4j_weight),
    N4J_FIELD(n4j_weight, data),
    N4J_FIELD(n4j_weight, dtype),
    N4J_FIELD(n4j_weight, rows),
    N4J_FIELD(n4j_weight, cols),
    N4J_FIELD(n4j_weight, scale),
    N4J_FIELD(n4j_weight, input_scale),
    N4J_FIELD(n4j_weight, reserved),

    N4J_STRUCT(n4j_ssm_dims),
    N4J_FIELD(n4j_ssm_dims, heads),
    N4J_FIELD(n4j_ssm_dims, head_dim),
    N4J_FIELD(n4j_ssm_dims, groups),
    N4J_FIELD(n4j_ssm_dims, state_dim),
    N4J_FIELD(n4j_ssm_dims, chunk_size),
    N4J_FIELD(n4j_ssm_dims, reserved),

    N4J_STRUCT(n4j_attn_dims),
    N4J_FIELD(n4j_attn_dims, heads),
    N4J_FIELD(n4j_attn_dims, kv_heads),
    N4J_FIELD(n4j_attn_dims, head_dim),
    N4J_FIELD(n4j_attn_dims, scale),

    N4J_STRUCT(n4j_kv_cache),
    N4J_FIELD(n4j_kv_cache, k_blocks),
    N4J_FIELD(n4j_kv_cache, v_blocks),
    N4J_FIELD(n4j_kv_cache, n_blocks),
    N4J_FIELD(n4j_kv_cache, block_tokens),
    N4J_FIELD(n4j_kv_cache, length),
    N4J_FIELD(n4j_kv_cache, dtype),
};

#undef N4J_STRUCT
#undef N4J_FIELD

}  // namespace

extern "C" {

N4J_EXPORT int64_t n4j_struct_size(const char* struct_name) {
    if (struct_name == nullptr) return -1;
    for (const field_entry& e : kLayout) {
        if (e.field_name == nullptr && strcmp(e.struct_name, struct_name) == 0) return e.value;
    }
    return -1;
}

N4J_EXPORT int64_t n4j_struct_offset(const char* struct_name, const char* field_name) {
    if (struct_name == nullptr || field_name == nullptr) return -1;
    for (const field_entry& e : kLayout) {
        if (e.field_name != nullptr && strcmp(e.struct_name, struct_name) == 0 && strcmp(e.field_name, field_name) == 0) {
            return e.value;
        }
    }
    return -1;
}

}  // extern "C"
