/*
 * rewrite_launches.cpp: turns a CUDA C++ source (.cu / .cuh) into host C++ for the CUDA emulator (emu.h), so that
 * cuda_emulation_test can compile the backend's real kernel files with the host compiler. A build tool (CMake runs
 * it through add_custom_command; no Python, no nvcc):
 *
 *     rewrite_launches <input.cu> <output.cpp>
 *
 * Rewrites, outside comments and string literals:
 *   - `kernel<<<grid, block[, smem[, stream]]>>>(args)` (kernel: a name with optional ::qualification and template
 *     arguments) -> `::emu::launcher(grid, block, smem, stream).at("kernel", __FILE__, __LINE__).run(kernel, args)`
 *   - `__shared__ T name[...];` -> `static T name[...]; ::emu::shared_declared(&name, sizeof(name), "name");` (the
 *     emulator poisons the array when the first thread of each block reaches the declaration)
 *   - `extern __shared__ T name[];` -> `T* const name = reinterpret_cast<T*>(::emu::dynamic_shared());`
 *   - `#include <cuda_runtime.h>` (and cuda.h, cuda_runtime_api.h, cuda_bf16.h, cuda_fp16.h) -> `#include "emu.h"`
 * Every other byte is copied, newlines included, and a `#line 1 "<input>"` directive comes first: compiler messages,
 * __FILE__ / __LINE__ and the emulator's diagnostics point at the real source lines. Local includes ("common.cuh")
 * are left alone: the build puts the shadow headers first on the include path and the rewritten .cuh files next to
 * the rewritten .cpp files.
 * What it cannot handle (it stops with an error naming the line): a launch whose kernel is not a plain (qualified,
 * templated) name, a `<<<` without `>>>` and an argument list, several declarators in one __shared__ declaration.
 * A namespace-scope __shared__ variable is rewritten like a local one and then fails to compile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string g_input;
const std::string* g_text = nullptr;

int line_of(size_t pos) {
    int line = 1;
    for (size_t i = 0; i < pos && i < g_text->size(); ++i) line += (*g_text)[i] == '\n';
    return line;
}

[[noreturn]] void die(size_t pos, const std::string& message) {
    fprintf(stderr, "%s:%d: rewrite_launches: %s\n", g_input.c_str(), line_of(pos), message.c_str());
    exit(1);
}

bool ident_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }
bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* True when the quote at i is a digit separator (1'000), not the start of a character literal. */
bool isdigit_prev(const std::string& s, size_t i) {
    size_t j = i;
    while (j > 0 && (ident_char(s[j - 1]) || s[j - 1] == '\'')) --j;
    return j < i && s[j] >= '0' && s[j] <= '9';
}

/* code[i] is true for bytes of code, false inside comments, string and character literals. */
std::vector<bool> classify(const std::string& s) {
    std::vector<bool> code(s.size(), true);
    size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (c == '/' && i + 1 < s.size() && s[i + 1] == '/') {
            while (i < s.size() && s[i] != '\n') code[i++] = false;
        } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
            const size_t end = s.find("*/", i + 2);
            const size_t stop = end == std::string::npos ? s.size() : end + 2;
            while (i < stop) code[i++] = false;
        } else if (c == 'R' && i + 1 < s.size() && s[i + 1] == '"' && (i == 0 || !ident_char(s[i - 1]))) {
            const size_t open = s.find('(', i + 2);
            if (open == std::string::npos) die(i, "unterminated raw string literal");
            const std::string close = ")" + s.substr(i + 2, open - i - 2) + "\"";
            const size_t end = s.find(close, open);
            const size_t stop = end == std::string::npos ? s.size() : end + close.size();
            while (i < stop) code[i++] = false;
        } else if (c == '"' || (c == '\'' && !(i > 0 && ident_char(s[i - 1]) && isdigit_prev(s, i)))) {
            const char q = c;
            code[i++] = false;
            while (i < s.size() && s[i] != q && s[i] != '\n') {
                if (s[i] == '\\' && i + 1 < s.size()) code[i++] = false;
                code[i++] = false;
            }
            if (i < s.size()) code[i++] = false;
        } else {
            ++i;
        }
    }
    return code;
}

struct rewriter {
    const std::string& s;
    std::vector<bool> code;
    std::string out;
    int launches = 0, shared = 0;

    explicit rewriter(const std::string& text) : s(text), code(classify(text)) {}

    bool is_code(size_t i) const { return i < s.size() && code[i]; }

    size_t skip_space_fwd(size_t i) const {
        while (i < s.size() && (space(s[i]) || !code[i])) ++i;
        return i;
    }

    /* Index of the bracket closing the one at `open` ((, [, {), skipping comments and literals. */
    size_t match_close(size_t open) const {
        int depth = 0;
        for (size_t i = open; i < s.size(); ++i) {
            if (!code[i]) continue;
            const char c = s[i];
            if (c == '(' || c == '[' || c == '{') ++depth;
            if (c == ')' || c == ']' || c == '}') {
                if (--depth == 0) return i;
            }
        }
        die(open, "unbalanced brackets");
    }

    /* Start of the kernel expression that ends just before `end` (exclusive; `<<<` follows). */
    size_t kernel_start(size_t end, size_t at) const {
        size_t i = end;
        while (i > 0 && space(s[i - 1])) --i;
        if (i > 0 && s[i - 1] == '>') {  // template arguments: back to the matching '<'
            int depth = 0;
            size_t j = i;
            while (j > 0) {
                --j;
                if (!code[j]) continue;
                if (s[j] == '>') ++depth;
                if (s[j] == '<' && --depth == 0) break;
                if (s[j] == ';' || s[j] == '{' || s[j] == '}') die(at, "cannot find the template arguments of the kernel");
            }
            if (depth != 0) die(at, "cannot find the template arguments of the kernel");
            i = j;
            while (i > 0 && space(s[i - 1])) --i;
        }
        for (;;) {
            const size_t name_end = i;
            while (i > 0 && ident_char(s[i - 1])) --i;
            if (i == name_end) die(at, "the kernel of a <<<...>>> launch is not a plain name");
            if (i >= 2 && s[i - 1] == ':' && s[i - 2] == ':') {
                i -= 2;
                if (i == 0 || !ident_char(s[i - 1])) break;  // leading ::
                continue;
            }
            break;
        }
        return i;
    }

    static std::string collapse(const std::string& t) {
        std::string r;
        for (char c : t) {
            if (space(c)) {
                if (!r.empty() && r.back() != ' ') r += ' ';
            } else if (c == '"' || c == '\\') {
                r += '\\';
                r += c;
            } else {
                r += c;
            }
        }
        while (!r.empty() && r.back() == ' ') r.pop_back();
        return r;
    }

    static std::string newlines_of(const std::string& t) {
        std::string r;
        for (char c : t) {
            if (c == '\n') r += '\n';
        }
        return r;
    }

    bool token_at(size_t i, const char* tok) const {
        const size_t n = strlen(tok);
        if (s.compare(i, n, tok) != 0) return false;
        if (i > 0 && ident_char(s[i - 1])) return false;
        if (i + n < s.size() && ident_char(s[i + n])) return false;
        for (size_t k = i; k < i + n; ++k) {
            if (!code[k]) return false;
        }
        return true;
    }

    /* The end (index of ';') of the declaration starting at `from`. */
    size_t decl_end(size_t from, size_t at) const {
        for (size_t i = from; i < s.size(); ++i) {
            if (!code[i]) continue;
            if (s[i] == ';') return i;
            if (s[i] == '(' || s[i] == '[' || s[i] == '{') i = match_close(i);
        }
        die(at, "__shared__ declaration without ';'");
    }

    /* Declared name: the identifier before the first top-level '[' (or the last identifier). */
    std::string decl_name(size_t from, size_t end, size_t at, size_t* name_pos) const {
        size_t bracket = end;
        int angle = 0;
        for (size_t i = from; i < end; ++i) {
            if (!code[i]) continue;
            const char c = s[i];
            if (c == '<') ++angle;
            if (c == '>') --angle;
            if (c == '(') {
                i = match_close(i);
                continue;
            }
            if (c == ',' && angle == 0) die(at, "several declarators in one __shared__ declaration are not supported");
            if (c == '[' && angle == 0) {
                bracket = i;
                break;
            }
        }
        size_t e = bracket;
        while (e > from && space(s[e - 1])) --e;
        size_t b = e;
        while (b > from && ident_char(s[b - 1])) --b;
        if (b == e) die(at, "cannot find the name in a __shared__ declaration");
        *name_pos = b;
        return s.substr(b, e - b);
    }

    static std::string strip_align(const std::string& t) {
        std::string r = t;
        for (;;) {
            const size_t p = r.find("__align__");
            if (p == std::string::npos) return r;
            const size_t open = r.find('(', p);
            const size_t close = open == std::string::npos ? std::string::npos : r.find(')', open);
            if (close == std::string::npos) return r;
            r.erase(p, close + 1 - p);
        }
    }

    void run() {
        size_t i = 0;
        while (i < s.size()) {
            if (!code[i]) {
                out += s[i++];
                continue;
            }
            // #include <cuda_runtime.h> and friends
            if (s[i] == '#' && (i == 0 || s[i - 1] == '\n' || space(s[i - 1]))) {
                size_t j = i + 1;
                while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
                if (s.compare(j, 7, "include") == 0) {
                    const size_t eol = s.find('\n', j);
                    const std::string line = s.substr(i, (eol == std::string::npos ? s.size() : eol) - i);
                    static const char* const runtime[] = {"<cuda_runtime.h>", "<cuda.h>", "<cuda_runtime_api.h>",
                                                          "<cuda_bf16.h>", "<cuda_fp16.h>"};
                    bool replaced = false;
                    for (const char* h : runtime) {
                        if (line.find(h) != std::string::npos) {
                            out += "#include \"emu.h\" /* emulator: was " + std::string(h) + " */";
                            replaced = true;
                            break;
                        }
                    }
                    if (replaced) {
                        i += line.size();
                        continue;
                    }
                }
            }
            if (token_at(i, "extern")) {
                const size_t j = skip_space_fwd(i + 6);
                if (token_at(j, "__shared__")) {
                    const size_t end = decl_end(j, i);
                    size_t name_pos = 0;
                    const std::string name = decl_name(j + 10, end, i, &name_pos);
                    std::string type = collapse(strip_align(s.substr(j + 10, name_pos - (j + 10))));
                    out += type + "* const " + name + " = reinterpret_cast<" + type +
                           "*>(::emu::dynamic_shared());" + newlines_of(s.substr(i, end + 1 - i));
                    ++shared;
                    i = end + 1;
                    continue;
                }
            }
            if (token_at(i, "__shared__")) {
                const size_t end = decl_end(i, i);
                size_t name_pos = 0;
                const std::string name = decl_name(i + 10, end, i, &name_pos);
                out += "static";
                out += s.substr(i + 10, end + 1 - (i + 10));
                out += " ::emu::shared_declared(&" + name + ", sizeof(" + name + "), \"" + name + "\");";
                ++shared;
                i = end + 1;
                continue;
            }
            if (s.compare(i, 3, "<<<") == 0 && is_code(i + 1) && is_code(i + 2)) {
                const size_t ks = kernel_start(i, i);
                // The kernel text was already copied to `out`: take it back.
                const std::string kernel_text = s.substr(ks, i - ks);
                if (out.size() < kernel_text.size() || out.compare(out.size() - kernel_text.size(), kernel_text.size(), kernel_text) != 0) {
                    die(i, "internal error: kernel text mismatch");
                }
                out.resize(out.size() - kernel_text.size());
                // Launch configuration up to the matching >>> (outside brackets).
                size_t j = i + 3;
                int depth = 0;
                size_t cfg_end = std::string::npos;
                for (; j + 2 < s.size(); ++j) {
                    if (!code[j]) continue;
                    const char c = s[j];
                    if (c == '(' || c == '[' || c == '{') ++depth;
                    if (c == ')' || c == ']' || c == '}') --depth;
                    if (c == ';') break;
                    if (depth == 0 && s.compare(j, 3, ">>>") == 0) {
                        cfg_end = j;
                        break;
                    }
                }
                if (cfg_end == std::string::npos) die(i, "<<< without a matching >>>");
                const std::string config = s.substr(i + 3, cfg_end - (i + 3));
                const size_t open = skip_space_fwd(cfg_end + 3);
                if (open >= s.size() || s[open] != '(') die(i, "kernel launch without an argument list after >>>");
                const size_t close = match_close(open);
                const std::string args = s.substr(open + 1, close - open - 1);
                bool blank = true;
                for (size_t k = open + 1; k < close; ++k) {
                    if (code[k] && !space(s[k])) blank = false;
                }
                const std::string kernel = collapse(kernel_text);
                out += "::emu::launcher(" + config + ").at(\"" + kernel + "\", __FILE__, __LINE__).run(" + kernel +
                       newlines_of(kernel_text) + (blank ? std::string() : ", ") + args + ")" +
                       newlines_of(s.substr(cfg_end, open - cfg_end));
                ++launches;
                i = close + 1;
                continue;
            }
            out += s[i++];
        }
    }
};

std::string escape_path(const std::string& p) {
    std::string r;
    for (char c : p) {
        if (c == '"' || c == '\\') r += '\\';
        r += c;
    }
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: rewrite_launches <input.cu|.cuh> <output>\n");
        return 2;
    }
    g_input = argv[1];
    std::ifstream in(argv[1], std::ios::binary);
    if (!in) {
        fprintf(stderr, "rewrite_launches: cannot read %s\n", argv[1]);
        return 1;
    }
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string text = buf.str();
    g_text = &text;
    rewriter r(text);
    r.run();
    std::string result = "/* Generated by rewrite_launches from " + g_input + " (" + std::to_string(r.launches) +
                         " launches, " + std::to_string(r.shared) + " __shared__ declarations): do not edit. */\n";
    result += "#line 1 \"" + escape_path(g_input) + "\"\n";
    result += r.out;
    std::ofstream outf(argv[2], std::ios::binary | std::ios::trunc);
    if (!outf) {
        fprintf(stderr, "rewrite_launches: cannot write %s\n", argv[2]);
        return 1;
    }
    outf << result;
    return outf.good() ? 0 : 1;
}
