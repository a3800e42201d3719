// llama_greedy: feeds token ids to a GGUF model through llama.cpp's public C API (llama.h) and greedily extends
// them; prints the generated ids and optionally writes every position's logits as a .npy file.
//
//   llama_greedy MODEL.gguf IDS N [--logits OUT.npy] [--threads T] [--kv f32|f16] [--ubatch U] [--fa on|off|auto]
//
// IDS is a comma-separated list of prompt token ids, fed in one llama_decode call with an output requested at
// every position (so rows 0..len(IDS)-1 of the logits are the prefill's); then N greedy steps, each feeding the
// previous argmax by itself (rows len(IDS).. are the decode step's). The .npy holds float32 [len(IDS)+N-1, vocab].
// Written for nemotron4j's cross-engine check (bench/llamacpp/verify.sh); uses only llama.h.
#include "llama.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static void quiet_log(enum ggml_log_level level, const char * text, void *) {
    if (level >= GGML_LOG_LEVEL_WARN) {
        fputs(text, stderr);
    }
}

static std::vector<llama_token> parse_ids(const char * s) {
    std::vector<llama_token> ids;
    while (*s) {
        char * end = nullptr;
        long v = strtol(s, &end, 10);
        if (end == s) {
            fprintf(stderr, "llama_greedy: bad id list near '%s'\n", s);
            exit(2);
        }
        ids.push_back((llama_token) v);
        s = *end == ',' ? end + 1 : end;
    }
    return ids;
}

static void write_npy(const char * path, const std::vector<float> & data, size_t rows, size_t cols) {
    FILE * f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                         std::to_string(cols) + "), }";
    size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header.push_back('\n');
    const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    fwrite(magic, 1, 8, f);
    unsigned short hlen = (unsigned short) header.size();
    fwrite(&hlen, 2, 1, f);
    fwrite(header.data(), 1, header.size(), f);
    fwrite(data.data(), sizeof(float), data.size(), f);
    fclose(f);
}

static llama_token argmax(const float * v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
        if (v[i] > v[best]) {
            best = i;
        }
    }
    return best;
}

int main(int argc, char ** argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.gguf IDS N [--logits OUT.npy] [--threads T] [--kv f32|f16] [--ubatch U] [--fa on|off|auto]\n", argv[0]);
        return 2;
    }
    const char * model_path = argv[1];
    std::vector<llama_token> prompt = parse_ids(argv[2]);
    const int n_gen = atoi(argv[3]);
    const char * logits_path = nullptr;
    int threads = 2;
    int ubatch = 512;
    ggml_type kv = GGML_TYPE_F32;
    llama_flash_attn_type fa = LLAMA_FLASH_ATTN_TYPE_AUTO;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--logits") && i + 1 < argc) {
            logits_path = argv[++i];
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--ubatch") && i + 1 < argc) {
            ubatch = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--fa") && i + 1 < argc) {
            const char * v = argv[++i];
            fa = !strcmp(v, "on") ? LLAMA_FLASH_ATTN_TYPE_ENABLED : !strcmp(v, "off") ? LLAMA_FLASH_ATTN_TYPE_DISABLED : LLAMA_FLASH_ATTN_TYPE_AUTO;
        } else if (!strcmp(argv[i], "--kv") && i + 1 < argc) {
            kv = !strcmp(argv[++i], "f16") ? GGML_TYPE_F16 : GGML_TYPE_F32;
        } else {
            fprintf(stderr, "llama_greedy: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (prompt.empty() || n_gen < 1) {
        fprintf(stderr, "llama_greedy: need at least one prompt id and N >= 1\n");
        return 2;
    }

    llama_log_set(quiet_log, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.progress_callback = [](float, void *) { return true; };  // no progress dots
    llama_model * model = llama_model_load_from_file(model_path, mp);
    if (!model) {
        fprintf(stderr, "llama_greedy: cannot load %s\n", model_path);
        return 1;
    }
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    for (llama_token t : prompt) {
        if (t < 0 || t >= n_vocab) {
            fprintf(stderr, "llama_greedy: id %d outside the vocabulary\n", t);
            return 2;
        }
    }

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) (prompt.size() + n_gen + 16);
    cp.n_batch = (uint32_t) prompt.size();
    cp.n_ubatch = (uint32_t) ubatch;
    cp.n_seq_max = 1;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.type_k = kv;
    cp.type_v = kv;
    cp.flash_attn_type = fa;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "llama_greedy: cannot create a context\n");
        return 1;
    }

    std::vector<float> all;
    llama_batch batch = llama_batch_init((int32_t) prompt.size(), 0, 1);
    batch.n_tokens = (int32_t) prompt.size();
    for (size_t i = 0; i < prompt.size(); i++) {
        batch.token[i] = prompt[i];
        batch.pos[i] = (llama_pos) i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    if (llama_decode(ctx, batch) != 0) {
        fprintf(stderr, "llama_greedy: prefill failed\n");
        return 1;
    }
    for (size_t i = 0; i < prompt.size(); i++) {
        const float * l = llama_get_logits_ith(ctx, (int32_t) i);
        all.insert(all.end(), l, l + n_vocab);
    }
    std::vector<llama_token> out;
    llama_token next = argmax(llama_get_logits_ith(ctx, -1), n_vocab);
    out.push_back(next);
    for (int step = 1; step < n_gen; step++) {
        batch.n_tokens = 1;
        batch.token[0] = next;
        batch.pos[0] = (llama_pos) (prompt.size() + step - 1);
        batch.n_seq_id[0] = 1;
        batch.seq_id[0][0] = 0;
        batch.logits[0] = 1;
        if (llama_decode(ctx, batch) != 0) {
            fprintf(stderr, "llama_greedy: decode step %d failed\n", step);
            return 1;
        }
        const float * l = llama_get_logits_ith(ctx, -1);
        all.insert(all.end(), l, l + n_vocab);
        next = argmax(l, n_vocab);
        out.push_back(next);
    }
    for (size_t i = 0; i < out.size(); i++) {
        printf(i ? ",%d" : "%d", out[i]);
    }
    printf("\n");
    if (logits_path) {
        write_npy(logits_path, all, all.size() / n_vocab, (size_t) n_vocab);
    }
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
