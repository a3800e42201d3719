/*
 * test_golden_model.cpp: the kernels composed into the whole Nemotron-H forward pass on the golden fixtures
 * (../shared/fixtures/nemotron-h-tiny and nemotron-h-tiny-fp8, described in fixtures/README.md), on the reference
 * and the fast CPU backend:
 *  - the 70-token prompt in one prefill (embedding, RMSNorm, in_proj, conv1d + SiLU, chunked SSD scan, gated
 *    RMSNorm, out_proj with fused residual add; GQA attention writing a paged F32 KV cache; relu2 MLP; final norm,
 *    lm_head): logits within 1e-4 of max |logit| at every position;
 *  - 24 greedy steps with the decode kernels (conv1d / SSM / attention decode, argmax): the same ids, logits within
 *    1e-4 at every step;
 *  - the final conv / SSM states and K/V caches within 1e-4 relative.
 * The FP8 fixture stores in/out/up/down projections as F8_E4M3 with a per-tensor weight_scale (weight-only).
 * Fails loudly when the fixtures are not there (they are part of the test contract; only GPU tests skip).
 */
#include <stdio.h>
#include <stdlib.h>

#include <map>
#include <string>

#include "test_common.h"

using namespace test;

namespace {

/* ------------------------------------------------------------ minimal JSON ---- */

struct json {
    enum kind_t { NUL, BOOL, NUM, STR, ARR, OBJ } kind = NUL;
    double num = 0.0;
    std::string str;
    std::vector<json> arr;
    std::vector<std::pair<std::string, json>> obj;
    const json* get(const std::string& key) const {
        for (const auto& kv : obj)
            if (kv.first == key) return &kv.second;
        return nullptr;
    }
};

struct json_parser {
    const char* p;
    const char* end;
    bool ok = true;
    void skip() {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
    }
    bool literal(const char* word) {
        const size_t n = strlen(word);
        if (static_cast<size_t>(end - p) >= n && strncmp(p, word, n) == 0) {
            p += n;
            return true;
        }
        return false;
    }
    std::string string_value() {
        std::string s;
        ++p;  // opening quote
        while (p < end && *p != '"') {
            if (*p == '\\' && p + 1 < end) {
                ++p;
                s.push_back(*p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
            } else {
                s.push_back(*p);
            }
            ++p;
        }
        ++p;  // closing quote
        return s;
    }
    json value() {
        json v;
        skip();
        if (p >= end) {
            ok = false;
            return v;
        }
        if (*p == '{') {
            v.kind = json::OBJ;
            ++p;
            skip();
            while (p < end && *p != '}') {
                skip();
                std::string key = string_value();
                skip();
                ++p;  // ':'
                v.obj.emplace_back(key, value());
                skip();
                if (*p == ',') ++p;
                skip();
            }
            ++p;
        } else if (*p == '[') {
            v.kind = json::ARR;
            ++p;
            skip();
            while (p < end && *p != ']') {
                v.arr.push_back(value());
                skip();
                if (*p == ',') ++p;
                skip();
            }
            ++p;
        } else if (*p == '"') {
            v.kind = json::STR;
            v.str = string_value();
        } else if (literal("true")) {
            v.kind = json::BOOL;
            v.num = 1;
        } else if (literal("false")) {
            v.kind = json::BOOL;
        } else if (literal("null")) {
            v.kind = json::NUL;
        } else if (literal("Infinity")) {
            v.kind = json::NUM;
            v.num = INFINITY;
        } else if (literal("-Infinity")) {
            v.kind = json::NUM;
            v.num = -INFINITY;
        } else if (literal("NaN")) {
            v.kind = json::NUM;
            v.num = NAN;
        } else {
            char* next = nullptr;
            v.kind = json::NUM;
            v.num = strtod(p, &next);
            if (next == p) ok = false;
            p = next;
        }
        return v;
    }
};

bool read_file(const std::string& path, std::vector<uint8_t>& bytes) {
    FILE* f = fopen(path.c_str(), "rb");
    if (f == nullptr) return false;
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    bytes.resize(static_cast<size_t>(size));
    const bool ok = fread(bytes.data(), 1, bytes.size(), f) == bytes.size();
    fclose(f);
    return ok;
}

bool parse_json(const char* text, size_t n, json& out) {
    json_parser parser{text, text + n};
    out = parser.value();
    return parser.ok;
}

/* ------------------------------------------------------------- safetensors ---- */

struct tensor {
    int32_t dtype = -1;
    std::vector<int64_t> shape;
    const uint8_t* data = nullptr;
    int64_t elements() const {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        return n;
    }
};

struct safetensors {
    std::vector<uint8_t> bytes;
    std::map<std::string, tensor> tensors;

    bool load(const std::string& path) {
        if (!read_file(path, bytes) || bytes.size() < 8) return false;
        uint64_t header = 0;
        memcpy(&header, bytes.data(), 8);
        json h;
        if (!parse_json(reinterpret_cast<const char*>(bytes.data()) + 8, header, h)) return false;
        for (const auto& kv : h.obj) {
            if (kv.first == "__metadata__") continue;
            tensor t;
            const std::string& dt = kv.second.get("dtype")->str;
            t.dtype = dt == "F32" ? N4J_DTYPE_F32 : dt == "BF16" ? N4J_DTYPE_BF16 : dt == "F8_E4M3" ? N4J_DTYPE_F8_E4M3
                    : dt == "I32" ? N4J_DTYPE_I32 : -1;
            for (const json& d : kv.second.get("shape")->arr) t.shape.push_back(static_cast<int64_t>(d.num));
            t.data = bytes.data() + 8 + header + static_cast<size_t>(kv.second.get("data_offsets")->arr[0].num);
            tensors[kv.first] = t;
        }
        return true;
    }
    const tensor* find(const std::string& name) const {
        auto it = tensors.find(name);
        return it == tensors.end() ? nullptr : &it->second;
    }
    std::vector<float> f32(const std::string& name) const {
        const tensor* t = find(name);
        std::vector<float> v(static_cast<size_t>(t->elements()));
        memcpy(v.data(), t->data, v.size() * sizeof(float));
        return v;
    }
};

/* ------------------------------------------------------------------ model ---- */

struct config {
    int32_t layers, hidden, vocab, heads, kv_heads, head_dim, intermediate;
    int32_t m_heads, m_head_dim, groups, state, conv_kernel, chunk;
    float eps;
    std::string pattern;
};

bool load_config(const std::string& path, config& c) {
    std::vector<uint8_t> bytes;
    json j;
    if (!read_file(path, bytes) || !parse_json(reinterpret_cast<const char*>(bytes.data()), bytes.size(), j)) return false;
    auto num = [&](const char* key) { return static_cast<int32_t>(j.get(key)->num); };
    c.layers = num("num_hidden_layers");
    c.hidden = num("hidden_size");
    c.vocab = num("vocab_size");
    c.heads = num("num_attention_heads");
    c.kv_heads = num("num_key_value_heads");
    c.head_dim = num("head_dim");
    c.intermediate = num("intermediate_size");
    c.m_heads = num("mamba_num_heads");
    c.m_head_dim = num("mamba_head_dim");
    c.groups = num("n_groups");
    c.state = num("ssm_state_size");
    c.conv_kernel = num("conv_kernel");
    c.chunk = num("chunk_size");
    c.eps = static_cast<float>(j.get("layer_norm_epsilon")->num);
    c.pattern = j.get("hybrid_override_pattern")->str;
    return true;
}

/* Per-layer decode state of one sequence. */
struct layer_state {
    std::vector<float> conv, ssm;                  // Mamba
    std::vector<std::vector<float>> k_blocks, v_blocks;  // attention, F32 blocks
    std::vector<void*> k_ptrs, v_ptrs;
    int32_t length = 0;
};

class model {
public:
    model(const config& c, const safetensors& w, n4j_backend* b) : c_(c), w_(w), b_(b) {
        d_inner_ = c.m_heads * c.m_head_dim;
        conv_dim_ = d_inner_ + 2 * c.groups * c.state;
        in_proj_ = d_inner_ + conv_dim_ + c.m_heads;
        states_.resize(static_cast<size_t>(c.layers));
        for (int32_t l = 0; l < c.layers; ++l) {
            layer_state& s = states_[l];
            if (c.pattern[l] == 'M') {
                s.conv.assign(static_cast<size_t>(conv_dim_) * c.conv_kernel, 0.0f);
                s.ssm.assign(static_cast<size_t>(d_inner_) * c.state, 0.0f);
            } else if (c.pattern[l] == '*') {
                for (int32_t i = 0; i < kBlocks; ++i) {
                    s.k_blocks.emplace_back(static_cast<size_t>(kBlockTokens) * c.kv_heads * c.head_dim, 0.0f);
                    s.v_blocks.emplace_back(static_cast<size_t>(kBlockTokens) * c.kv_heads * c.head_dim, 0.0f);
                }
                for (int32_t i = 0; i < kBlocks; ++i) {
                    s.k_ptrs.push_back(s.k_blocks[i].data());
                    s.v_ptrs.push_back(s.v_blocks[i].data());
                }
            }
        }
    }

    /* Runs T tokens (T > 1 or prefill = true: prefill kernels; otherwise decode kernels); returns [T, vocab]. */
    std::vector<float> forward(const int32_t* ids, int32_t T, bool prefill) {
        const int32_t H = c_.hidden;
        std::vector<float> h(static_cast<size_t>(T) * H), hn(h.size());
        n4j_weight emb = weight("backbone.embeddings.weight");
        CHECK_OK(n4j_embedding(b_, &emb, ids, T, h.data(), H));
        for (int32_t l = 0; l < c_.layers; ++l) {
            const std::string p = "backbone.layers." + std::to_string(l) + ".";
            n4j_weight norm = weight(p + "norm.weight");
            CHECK_OK(n4j_rmsnorm(b_, h.data(), H, T, H, &norm, c_.eps, hn.data(), H));
            switch (c_.pattern[l]) {
                case 'M': mamba(p + "mixer.", states_[l], hn, h, T, prefill); break;
                case '*': attention(p + "mixer.", states_[l], hn, h, T, prefill); break;
                default: mlp(p + "mixer.", hn, h, T); break;
            }
        }
        n4j_weight norm_f = weight("backbone.norm_f.weight");
        CHECK_OK(n4j_rmsnorm(b_, h.data(), H, T, H, &norm_f, c_.eps, hn.data(), H));
        std::vector<float> logits(static_cast<size_t>(T) * c_.vocab);
        n4j_weight head = weight("lm_head.weight");
        CHECK_OK(n4j_matmul(b_, hn.data(), H, T, &head, logits.data(), c_.vocab, 0));
        return logits;
    }

    const layer_state& state(int32_t l) const { return states_[l]; }

private:
    static constexpr int32_t kBlockTokens = 16;
    static constexpr int32_t kBlocks = 8;  // 128 tokens

    n4j_weight weight(const std::string& name) const {
        const tensor* t = w_.find(name);
        CHECK(t != nullptr, "missing tensor %s", name.c_str());
        int32_t rows = static_cast<int32_t>(t->shape[0]);
        int32_t cols = static_cast<int32_t>(t->elements() / t->shape[0]);
        float scale = 1.0f;
        const std::string base = name.substr(0, name.size() - strlen("weight"));
        if (const tensor* s = w_.find(base + "weight_scale")) memcpy(&scale, s->data, sizeof(float));
        return make_weight(t->data, t->dtype, rows, cols, scale);
    }

    void mamba(const std::string& p, layer_state& s, const std::vector<float>& hn, std::vector<float>& h, int32_t T,
               bool prefill) {
        const int32_t H = c_.hidden, GN = c_.groups * c_.state;
        std::vector<float> zxbcdt(static_cast<size_t>(T) * in_proj_), xbc(static_cast<size_t>(T) * conv_dim_),
            y(static_cast<size_t>(T) * d_inner_), g(y.size());
        n4j_weight in_proj = weight(p + "in_proj.weight"), conv_w = weight(p + "conv1d.weight"),
                   conv_b = weight(p + "conv1d.bias"), dt_bias = weight(p + "dt_bias"), A_log = weight(p + "A_log"),
                   D = weight(p + "D"), norm = weight(p + "norm.weight"), out_proj = weight(p + "out_proj.weight");
        CHECK_OK(n4j_matmul(b_, hn.data(), H, T, &in_proj, zxbcdt.data(), in_proj_, 0));
        const float* z = zxbcdt.data();
        const float* xbc_in = zxbcdt.data() + d_inner_;
        const float* dt = zxbcdt.data() + d_inner_ + conv_dim_;
        n4j_ssm_dims dims;
        memset(&dims, 0, sizeof(dims));
        dims.heads = c_.m_heads;
        dims.head_dim = c_.m_head_dim;
        dims.groups = c_.groups;
        dims.state_dim = c_.state;
        dims.chunk_size = c_.chunk;
        if (prefill) {
            CHECK_OK(n4j_conv1d_prefill(b_, xbc_in, in_proj_, T, conv_dim_, &conv_w, &conv_b, s.conv.data(), N4J_ACT_SILU,
                                        xbc.data(), conv_dim_));
            CHECK_OK(n4j_ssd_chunk_scan(b_, &dims, T, xbc.data(), conv_dim_, xbc.data() + d_inner_, conv_dim_,
                                        xbc.data() + d_inner_ + GN, conv_dim_, dt, in_proj_, &dt_bias, &A_log, &D,
                                        s.ssm.data(), y.data(), d_inner_));
        } else {
            void* conv_states[1] = {s.conv.data()};
            float* ssm_states[1] = {s.ssm.data()};
            CHECK_OK(n4j_conv1d_decode(b_, T, xbc_in, in_proj_, conv_dim_, &conv_w, &conv_b, conv_states, N4J_ACT_SILU,
                                       xbc.data(), conv_dim_));
            CHECK_OK(n4j_ssm_decode(b_, &dims, T, xbc.data(), conv_dim_, xbc.data() + d_inner_, conv_dim_,
                                    xbc.data() + d_inner_ + GN, conv_dim_, dt, in_proj_, &dt_bias, &A_log, &D,
                                    ssm_states, y.data(), d_inner_));
        }
        CHECK_OK(n4j_gated_rmsnorm(b_, y.data(), d_inner_, z, in_proj_, T, d_inner_, c_.groups, &norm, c_.eps, g.data(),
                                   d_inner_));
        CHECK_OK(n4j_matmul(b_, g.data(), d_inner_, T, &out_proj, h.data(), H, 1));
    }

    void attention(const std::string& p, layer_state& s, const std::vector<float>& hn, std::vector<float>& h,
                   int32_t T, bool prefill) {
        const int32_t H = c_.hidden, QW = c_.heads * c_.head_dim, KW = c_.kv_heads * c_.head_dim;
        std::vector<float> q(static_cast<size_t>(T) * QW), k(static_cast<size_t>(T) * KW), v(k.size()), o(q.size());
        n4j_weight wq = weight(p + "q_proj.weight"), wk = weight(p + "k_proj.weight"), wv = weight(p + "v_proj.weight"),
                   wo = weight(p + "o_proj.weight");
        CHECK_OK(n4j_matmul(b_, hn.data(), H, T, &wq, q.data(), QW, 0));
        CHECK_OK(n4j_matmul(b_, hn.data(), H, T, &wk, k.data(), KW, 0));
        CHECK_OK(n4j_matmul(b_, hn.data(), H, T, &wv, v.data(), KW, 0));
        n4j_attn_dims dims;
        dims.heads = c_.heads;
        dims.kv_heads = c_.kv_heads;
        dims.head_dim = c_.head_dim;
        dims.scale = 1.0f / sqrtf(static_cast<float>(c_.head_dim));
        n4j_kv_cache cache;
        cache.k_blocks = s.k_ptrs.data();
        cache.v_blocks = s.v_ptrs.data();
        cache.n_blocks = kBlocks;
        cache.block_tokens = kBlockTokens;
        cache.length = s.length;
        cache.dtype = N4J_DTYPE_F32;
        if (prefill) {
            CHECK_OK(n4j_attention_prefill(b_, &dims, T, q.data(), QW, k.data(), KW, v.data(), KW, &cache, o.data(), QW));
        } else {
            CHECK_OK(n4j_attention_decode(b_, &dims, T, q.data(), QW, k.data(), KW, v.data(), KW, &cache, o.data(), QW));
        }
        s.length += T;
        CHECK_OK(n4j_matmul(b_, o.data(), QW, T, &wo, h.data(), H, 1));
    }

    void mlp(const std::string& p, const std::vector<float>& hn, std::vector<float>& h, int32_t T) {
        const int32_t H = c_.hidden, I = c_.intermediate;
        std::vector<float> u(static_cast<size_t>(T) * I);
        n4j_weight up = weight(p + "up_proj.weight"), down = weight(p + "down_proj.weight");
        CHECK_OK(n4j_matmul(b_, hn.data(), H, T, &up, u.data(), I, 0));
        CHECK_OK(n4j_relu_squared(b_, u.data(), u.data(), static_cast<int64_t>(u.size())));
        CHECK_OK(n4j_matmul(b_, u.data(), I, T, &down, h.data(), H, 1));
    }

    const config& c_;
    const safetensors& w_;
    n4j_backend* b_;
    int32_t d_inner_, conv_dim_, in_proj_;
    std::vector<layer_state> states_;
};

/* max over rows of (max |got - want| in the row / max |want| in the row). */
double worst_row_error(const float* want, const float* got, int32_t rows, int32_t cols) {
    double worst = 0.0;
    for (int32_t r = 0; r < rows; ++r) worst = fmax(worst, rel_diff(want + r * cols, got + r * cols, cols));
    return worst;
}

void run_fixture(const std::string& dir, n4j_backend* b, const char* backend_name) {
    config c;
    safetensors weights, golden;
    if (!load_config(dir + "/config.json", c) || !weights.load(dir + "/model.safetensors") ||
        !golden.load(dir + "/golden.safetensors")) {
        CHECK(false, "cannot read the fixture in %s", dir.c_str());
        return;
    }
    model m(c, weights, b);
    const tensor* prompt = golden.find("prompt_ids");
    const int32_t T = static_cast<int32_t>(prompt->elements());
    std::vector<int32_t> ids(static_cast<size_t>(T));
    memcpy(ids.data(), prompt->data, ids.size() * sizeof(int32_t));

    const std::vector<float> logits = m.forward(ids.data(), T, true);
    const std::vector<float> want = golden.f32("prompt_logits");
    const double prompt_err = worst_row_error(want.data(), logits.data(), T, c.vocab);
    CHECK(prompt_err <= 1e-4, "%s %s: prompt logits error %.3g > 1e-4", dir.c_str(), backend_name, prompt_err);

    const tensor* greedy = golden.find("greedy_ids");
    const int32_t steps = static_cast<int32_t>(greedy->elements());
    std::vector<int32_t> want_ids(static_cast<size_t>(steps));
    memcpy(want_ids.data(), greedy->data, want_ids.size() * sizeof(int32_t));
    const std::vector<float> want_greedy = golden.f32("greedy_logits");
    std::vector<float> last(logits.end() - c.vocab, logits.end());
    double greedy_err = 0.0;
    int mismatched = 0;
    for (int32_t i = 0; i < steps; ++i) {
        int32_t next = -1;
        CHECK_OK(n4j_argmax(b, last.data(), c.vocab, 1, c.vocab, &next));
        if (next != want_ids[i]) ++mismatched;
        last = m.forward(&want_ids[i], 1, false);  // feed the golden id, so one miss does not cascade
        greedy_err = fmax(greedy_err, rel_diff(want_greedy.data() + static_cast<size_t>(i) * c.vocab, last.data(), c.vocab));
    }
    CHECK(mismatched == 0, "%s %s: %d greedy ids differ", dir.c_str(), backend_name, mismatched);
    CHECK(greedy_err <= 1e-4, "%s %s: greedy logits error %.3g > 1e-4", dir.c_str(), backend_name, greedy_err);

    double state_err = 0.0;
    for (int32_t l = 0; l < c.layers; ++l) {
        const std::string p = "state." + std::to_string(l) + ".";
        const layer_state& s = m.state(l);
        if (c.pattern[l] == 'M') {
            state_err = fmax(state_err, rel_diff(golden.f32(p + "conv"), s.conv));
            state_err = fmax(state_err, rel_diff(golden.f32(p + "ssm"), s.ssm));
        } else if (c.pattern[l] == '*') {
            for (const char* kv : {"k", "v"}) {
                const std::vector<float> g = golden.f32(p + kv);
                std::vector<float> cached;
                for (const auto& block : kv[0] == 'k' ? s.k_blocks : s.v_blocks) cached.insert(cached.end(), block.begin(), block.end());
                cached.resize(g.size());
                state_err = fmax(state_err, rel_diff(g, cached));
            }
        }
    }
    CHECK(state_err <= 1e-4, "%s %s: final states error %.3g > 1e-4", dir.c_str(), backend_name, state_err);
    printf("  %-22s %-9s prompt logits %.2e, greedy logits %.2e (%d/%d ids match), states %.2e\n",
           dir.substr(dir.rfind('/') + 1).c_str(), backend_name, prompt_err, greedy_err, steps - mismatched, steps,
           state_err);
}

}  // namespace

int main() {
    const char* env = getenv("N4J_FIXTURES");
    const std::string root = env != nullptr ? env : N4J_FIXTURES_DIR;
    std::vector<uint8_t> probe;
    if (!read_file(root + "/nemotron-h-tiny/config.json", probe)) {
        fprintf(stderr, "test_golden_model: FAILED: fixtures not found in %s (set N4J_FIXTURES)\n", root.c_str());
        return 1;
    }
    n4j_backend* reference = make_cpu_backend(1, true, 0);
    n4j_backend* fast = make_cpu_backend(2, false, n4j::cpu::best_simd_level());
    for (const char* fixture : {"nemotron-h-tiny", "nemotron-h-tiny-fp8"}) {
        run_fixture(root + "/" + fixture, reference, "reference");
        run_fixture(root + "/" + fixture, fast, "fast");
    }
    n4j_backend_destroy(reference);
    n4j_backend_destroy(fast);
    return finish("test_golden_model");
}
