#!/usr/bin/env bash
# Side-by-side CPU benchmark of nemotron4j and llama.cpp on the same random-weight Nemotron-H model (bench-medium,
# 657M parameters, bf16 weights). Steps, each skipped when its output already exists:
#   (a) llama.cpp: fetch node-llama-cpp from the npm registry, clone the llama.cpp git bundle it ships, build
#       llama-bench (Release, GGML_NATIVE=ON);
#   (b) the bench model (nemotron4j create-model, Hugging Face layout);
#   (c) the GGUF (bench/llamacpp/hf_to_gguf.py, bf16);
#   (d) llama-bench and nemotron4j bench, one after the other, on the same thread count; both tables printed.
# Usage: bench/llamacpp/compare.sh            (settings by environment variable: see common.sh; e.g.
#        REPS=5 THREADS=2 WORK=/tmp/lc N4J="java --enable-native-access=ALL-UNNAMED -jar nemotron4j.jar" ...)
# Run bench/llamacpp/verify.sh to check that both engines compute the same function on this model.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

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

machine_info | tee "$results/machine.txt"

log "llama.cpp: llama-bench -m $GGUF -p $PP -n $TG -t $THREADS -r $REPS"
bench_step "(d) llama-bench" bash -c "'$LLAMA_BIN/llama-bench' -m '$GGUF' -p '$PP' -n '$TG' -t '$THREADS' -r '$REPS' | tee '$results/llama-bench.md'"

# nemotron4j: one run per prompt length (its bench takes a single -p); the decode test rides on the first.
n4j_runs=()
first=1
IFS=',' read -r -a pps <<< "$PP"
for p in "${pps[@]}"; do
  if [ "$first" = 1 ]; then n4j_runs+=("-p $p -n $TG"); first=0; else n4j_runs+=("-p $p -n 0"); fi
done
: > "$results/nemotron4j-bench.md"
for args in "${n4j_runs[@]}"; do
  log "nemotron4j: bench --model $MODEL_DIR $args -r $REPS --threads $THREADS"
  bench_step "(d) nemotron4j bench $args" bash -c "$N4J bench --model '$MODEL_DIR' $args -r '$REPS' --threads '$THREADS' | tee -a '$results/nemotron4j-bench.md'"
done

printf '\n================ results (%s) ================\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
cat "$results/machine.txt"
printf '\nllama.cpp  (llama-bench -m %s -p %s -n %s -t %s -r %s):\n\n' "$(basename "$GGUF")" "$PP" "$TG" "$THREADS" "$REPS"
cat "$results/llama-bench.md"
printf '\nnemotron4j (bench --model %s ... -r %s --threads %s):\n\n' "$(basename "$MODEL_DIR")" "$REPS" "$THREADS"
grep -v '^model:' "$results/nemotron4j-bench.md" | awk 'NF' | awk '!(/^\| (test|----)/ && seen[$0]++)'
print_step_times
print_contention
echo
echo "outputs kept in $results"
