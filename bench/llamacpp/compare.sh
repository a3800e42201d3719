#!/usr/bin/env bash
# Side-by-side CPU benchmark of nemotron4j and llama.cpp on the same random-weight Nemotron-H model (bench-medium,
# 657M parameters, bf16 weights), optionally quantized by both at the same bits. Steps, each skipped when its output
# already exists:
#   (a) llama.cpp: fetch node-llama-cpp from the npm registry, clone the llama.cpp git bundle it ships, build
#       llama-bench (Release, GGML_NATIVE=ON); with q8/q4, compile llama-quantize against that build;
#   (b) the bench model (nemotron4j create-model, Hugging Face layout); with q8/q4, `nemotron4j quantize` copies;
#   (c) the GGUF (bench/llamacpp/hf_to_gguf.py, bf16); with q8/q4, llama-quantize's Q8_0, Q4_K_M and Q4_0 of it;
#   (d) llama-bench and nemotron4j bench, one after the other, on the same thread count; every table printed, then
#       one table of both engines per weight type with the ratio nemotron4j / llama.cpp.
# Usage: bench/llamacpp/compare.sh [--types bf16,q8,q4]   (default bf16; q8 pairs our q8 with Q8_0, q4 our q4 with
#        Q4_K_M and Q4_0. Settings by environment variable: see common.sh; e.g.
#        REPS=5 THREADS=2 PP=512 WORK=/tmp/lc N4J="java --enable-native-access=ALL-UNNAMED -jar nemotron4j.jar" ...)
# Run bench/llamacpp/verify.sh to check that both engines compute the same function on this model.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

usage="usage: compare.sh [--types LIST]   LIST: comma-separated from bf16, q8, q4 (default bf16)"
TYPES=bf16
while [ $# -gt 0 ]; do
  case "$1" in
    --types) [ $# -ge 2 ] || { echo "compare.sh: --types needs a value; $usage" >&2; exit 2; }; TYPES="$2"; shift 2 ;;
    --types=*) TYPES="${1#--types=}"; shift ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "compare.sh: unknown argument '$1'; $usage" >&2; exit 2 ;;
  esac
done
IFS=',' read -r -a types <<< "$TYPES"
[ "${#types[@]}" -gt 0 ] || { echo "compare.sh: --types is empty; $usage" >&2; exit 2; }
for t in "${types[@]}"; do
  case "$t" in bf16|q8|q4) ;; *) echo "compare.sh: unknown type '$t' in --types $TYPES; $usage" >&2; exit 2 ;; esac
done
# pairs, one a line: type, llama.cpp label, GGUF, nemotron4j label, checkpoint directory
base="$(basename "$MODEL_DIR")"
pairs=()
for t in "${types[@]}"; do
  case "$t" in
    bf16) pairs+=("bf16 BF16 $GGUF bf16 $MODEL_DIR") ;;
    q8)   pairs+=("q8 Q8_0 $WORK/$base-Q8_0.gguf q8 $WORK/$base-q8") ;;
    q4)   pairs+=("q4 Q4_K_M $WORK/$base-Q4_K_M.gguf q4 $WORK/$base-q4" "q4 Q4_0 $WORK/$base-Q4_0.gguf q4 $WORK/$base-q4") ;;
  esac
done
quantized=0
for t in "${types[@]}"; do [ "$t" = bf16 ] || quantized=1; done

REPS="${REPS:-3}"
PP="${PP:-512,2048}"   # prompt lengths (comma-separated)
TG="${TG:-128}"        # generated tokens
results="$WORK/results"
mkdir -p "$results"

timed "(a) fetch llama.cpp (npm pack + git clone)" fetch_llamacpp
timed "(a) build llama-bench" build_llamacpp
timed "(b) create bench model" create_model
# start nemotron4j once outside the timed runs (the launcher builds the project first if its sources changed)
timed "(b) nemotron4j inspect (builds if needed)" bash -c "$N4J inspect --model '$MODEL_DIR' > '$results/nemotron4j-inspect.txt'"
timed "(c) convert to GGUF (bf16)" convert_model "$GGUF" bf16
if [ "$quantized" = 1 ]; then
  timed "(a) compile llama-quantize" build_llama_quantize
fi
for p in "${pairs[@]}"; do
  read -r t ltype gguf ntype dir <<< "$p"
  [ "$t" = bf16 ] && continue
  timed "(c) llama-quantize $ltype" quantize_gguf "$GGUF" "$gguf" "$ltype"
  timed "(b) nemotron4j quantize $ntype" quantize_n4j "$dir" "$ntype"
done

machine_info | tee "$results/machine.txt"
sizes() { # what each model's tensors take on disk
  local p t ltype gguf ntype dir
  for p in "${pairs[@]}"; do
    read -r t ltype gguf ntype dir <<< "$p"
    printf '%s llama.cpp %s %s\n' "$t" "$ltype" "$(stat -c %s "$gguf")"
    printf '%s nemotron4j %s %s\n' "$t" "$ntype" "$(du -bc "$dir"/*.safetensors | tail -1 | cut -f1)"
  done | sort -u
}
sizes > "$results/sizes.txt"

: > "$results/runs.txt"    # one line per run: type, engine, label, the file holding its table, the model
for p in "${pairs[@]}"; do
  read -r t ltype gguf ntype dir <<< "$p"
  md="$results/llama-bench-$ltype.md"
  log "llama.cpp: llama-bench -m $gguf -p $PP -n $TG -t $THREADS -r $REPS"
  bench_step "(d) llama-bench $ltype" bash -c "'$LLAMA_BIN/llama-bench' -m '$gguf' -p '$PP' -n '$TG' -t '$THREADS' -r '$REPS' | tee '$md'"
  [ "$ltype" = BF16 ] && cp "$md" "$results/llama-bench.md"
  echo "$t llama.cpp $ltype $md $gguf" >> "$results/runs.txt"
done

# nemotron4j: one run per prompt length (its bench takes a single -p); the decode test rides on the first.
n4j_runs=()
first=1
IFS=',' read -r -a pps <<< "$PP"
for p in "${pps[@]}"; do
  if [ "$first" = 1 ]; then n4j_runs+=("-p $p -n $TG"); first=0; else n4j_runs+=("-p $p -n 0"); fi
done
done_n4j=" "
for p in "${pairs[@]}"; do
  read -r t ltype gguf ntype dir <<< "$p"
  case "$done_n4j" in *" $ntype "*) continue ;; esac
  done_n4j+="$ntype "
  md="$results/nemotron4j-bench-$ntype.md"
  : > "$md"
  for args in "${n4j_runs[@]}"; do
    log "nemotron4j: bench --model $dir $args -r $REPS --threads $THREADS"
    bench_step "(d) nemotron4j bench $ntype $args" bash -c "$N4J bench --model '$dir' $args -r '$REPS' --threads '$THREADS' | tee -a '$md'"
  done
  [ "$ntype" = bf16 ] && cp "$md" "$results/nemotron4j-bench.md"
  echo "$t nemotron4j $ntype $md $dir" >> "$results/runs.txt"
done

printf '\n================ results (%s) ================\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
cat "$results/machine.txt"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
while read -r t engine label md model; do
  if [ "$engine" = llama.cpp ]; then
    printf '\nllama.cpp %s (llama-bench -m %s -p %s -n %s -t %s -r %s):\n\n' "$label" "$(basename "$model")" "$PP" "$TG" "$THREADS" "$REPS"
    cat "$md"
  else
    printf '\nnemotron4j %s (bench --model %s ... -r %s --threads %s):\n\n' "$label" "$(basename "$model")" "$REPS" "$THREADS"
    grep -v '^model:' "$md" | awk 'NF' | awk '!(/^\| (test|----)/ && seen[$0]++)'
  fi
done < "$results/runs.txt"
printf '\nside by side (tokens/s; ratio = nemotron4j / llama.cpp; size = bytes of tensors on disk):\n\n'
python3 "$here/side_by_side.py" "$results/runs.txt" "$results/sizes.txt" | tee "$results/side-by-side.md"
print_step_times
print_contention
echo
echo "outputs kept in $results"
