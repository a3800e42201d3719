#!/usr/bin/env bash
# Checks that llama.cpp (through the GGUF written by hf_to_gguf.py) and nemotron4j compute the same function on the
# bench model: greedy ids from the same prompt ids, and the logits at every position of the same token sequence.
#
#   bench/llamacpp/verify.sh            (after compare.sh, or on its own: it runs the steps it needs)
#
# For each prompt (16 tokens, and PROMPT_LONG tokens, default 600, which crosses nemotron4j's 128-token SSD chunks
# and 256-token prefill chunks and llama.cpp's 512-token ubatch):
#   - nemotron4j `generate` and llama.cpp (llama_greedy.cpp, our program against llama.h) extend it greedily by 16;
#   - nemotron4j `logits` (by prefill, and by the recurrent decode step) over prompt + llama.cpp's first 15 ids,
#     compared with llama.cpp's logits over the same sequence (prompt rows from its prefill, the rest from its decode
#     steps) by compare_logits.py, for three llama.cpp set-ups:
#       bf16 GGUF, flash attention auto      what the benchmark runs; ggml rounds activations to bf16 in every
#                                            bf16 matmul, nemotron4j keeps f32 activations: expect ~1e-2 relative
#       f32 GGUF,  flash attention auto      same weights widened to f32 (lossless): isolates the bf16 rounding
#       f32 GGUF,  flash attention off       both engines in f32 end to end: expect ~1e-6 relative
#     (llama_greedy uses an F32 KV cache; set-ups differ only as listed.)
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

GGUF_F32="${GGUF_F32:-$WORK/$(basename "$MODEL_DIR")-f32.gguf}"
PROMPT_LONG="${PROMPT_LONG:-600}"
N_GEN=16
out="$WORK/verify"
mkdir -p "$out"
: > "$out/summary.txt"

fetch_llamacpp
build_llamacpp
create_model
convert_model "$GGUF" bf16
convert_model "$GGUF_F32" f32

greedy="$WORK/llama_greedy"
if [ ! -x "$greedy" ] || [ "$here/llama_greedy.cpp" -nt "$greedy" ]; then
  log "compiling llama_greedy.cpp against $LLAMA_DIR"
  g++ -O2 -std=c++17 -I"$LLAMA_DIR/include" -I"$LLAMA_DIR/ggml/include" "$here/llama_greedy.cpp" \
    -L"$LLAMA_BIN" -lllama -lggml -lggml-base -Wl,-rpath,"$LLAMA_BIN" -o "$greedy"
fi

prompt_ids() { # prompt_ids LEN: bos (1) then LEN-1 ids drawn with a fixed seed from [3, vocab)
  python3 -c "
import json, random, sys
vocab = json.load(open('$MODEL_DIR/config.json'))['vocab_size']
r = random.Random(7)
print(','.join(['1'] + [str(r.randrange(3, vocab)) for _ in range($1 - 1)]))"
}

summary=()
for len in 16 "$PROMPT_LONG"; do
  P=$(prompt_ids "$len")
  log "prompt of $len ids: greedy $N_GEN"
  n4j_ids=$($N4J generate --model "$MODEL_DIR" --precision exact --ids "$P" -n "$N_GEN" 2>/dev/null)
  l_bf16=$("$greedy" "$GGUF" "$P" "$N_GEN" --logits "$out/llama-bf16-$len.npy" 2>/dev/null)
  l_f32=$("$greedy" "$GGUF_F32" "$P" "$N_GEN" --logits "$out/llama-f32-$len.npy" 2>/dev/null)
  l_f32_nofa=$("$greedy" "$GGUF_F32" "$P" "$N_GEN" --fa off --logits "$out/llama-f32-nofa-$len.npy" 2>/dev/null)
  printf '  nemotron4j             %s\n  llama.cpp bf16         %s\n  llama.cpp f32          %s\n  llama.cpp f32, FA off  %s\n' \
    "$n4j_ids" "$l_bf16" "$l_f32" "$l_f32_nofa"
  same() { python3 -c "a='$1'.split(','); b='$2'.split(','); print(sum(x==y for x,y in zip(a,b)), '/', len(a), sep='')"; }
  summary+=("prompt $len: greedy ids equal to nemotron4j's: llama.cpp bf16 $(same "$n4j_ids" "$l_bf16"), f32 $(same "$n4j_ids" "$l_f32"), f32 FA off $(same "$n4j_ids" "$l_f32_nofa")")

  # every set-up's logits are compared on the sequence prompt + that set-up's own first 15 greedy ids
  for setup in bf16 f32 f32-nofa; do
    case $setup in bf16) ids=$l_bf16 ;; f32) ids=$l_f32 ;; f32-nofa) ids=$l_f32_nofa ;; esac
    seq="$P,$(echo "$ids" | cut -d, -f1-$((N_GEN - 1)))"
    key=$(echo "$ids" | md5sum | cut -c1-8)
    for mode in prefill decode; do
      f="$out/n4j-$len-$key-$mode.safetensors"
      [ -f "$f" ] || $N4J logits --model "$MODEL_DIR" --precision exact --ids "$seq" --out "$f" $([ $mode = decode ] && echo --decode) >/dev/null 2>&1
      python3 "$here/compare_logits.py" "$out/llama-$setup-$len.npy" "$f" --prompt-len "$len" --quiet \
        --label "prompt $len, llama.cpp $setup vs nemotron4j ($mode)" | tee -a "$out/summary.txt"
    done
  done
done
printf '\n'
printf '%s\n' "${summary[@]}" | tee -a "$out/summary.txt"
