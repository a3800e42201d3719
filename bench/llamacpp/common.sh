# Sourced by compare.sh and verify.sh: settings, timing, and the steps both need (llama.cpp from the npm registry,
# the bench model, the GGUF conversion). Every step is skipped when its output already exists.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

WORK="${WORK:-$repo/build/llamacpp}"                      # git-ignored (the repo ignores /build/)
NODE_LLAMA_CPP_VERSION="${NODE_LLAMA_CPP_VERSION:-3.22.1}" # ships llama.cpp (tag v0.5.0) with nemotron_h
LLAMA_DIR="$WORK/llama.cpp"
LLAMA_BIN="$LLAMA_DIR/build/bin"
BENCH_CONFIG="${BENCH_CONFIG:-$repo/../shared/fixtures/configs/bench-medium.json}"
MODEL_DIR="${MODEL_DIR:-$WORK/bench-medium}"               # HF-layout checkpoint written by create-model
MODEL_SEED="${MODEL_SEED:-1}"
GGUF="${GGUF:-$WORK/$(basename "$MODEL_DIR")-bf16.gguf}"
THREADS="${THREADS:-2}"
JOBS="${JOBS:-$(nproc)}"
# How to run nemotron4j: the launcher by default (it builds the project when sources changed). Set N4J to e.g.
# "java --enable-native-access=ALL-UNNAMED -jar /path/nemotron4j.jar" to use a prebuilt jar.
N4J="${N4J:-$repo/nemotron4j}"
# (N4J_NOTE, if set, describes that jar's version in the printed machine information.)

mkdir -p "$WORK"

log() { printf '\n==> %s\n' "$*" >&2; }
declare -a STEP_TIMES=()
timed() { # timed LABEL COMMAND...: runs the command, records its wall time
  local label="$1"; shift
  local t0=$SECONDS
  "$@"
  local dt=$((SECONDS - t0))
  STEP_TIMES+=("$(printf '%-46s %5d s' "$label" "$dt")")
  printf '    (%s: %d s)\n' "$label" "$dt" >&2
}
print_step_times() {
  printf '\nstep times (wall clock):\n'
  local s
  for s in "${STEP_TIMES[@]}"; do printf '  %s\n' "$s"; done
}

# (a) llama.cpp: node-llama-cpp's npm package carries llama.cpp's sources as a git bundle (llama/gitRelease.bundle).
fetch_llamacpp() {
  if [ -f "$LLAMA_DIR/CMakeLists.txt" ]; then
    log "llama.cpp sources: $LLAMA_DIR (present, skipped)"
    return
  fi
  log "fetching node-llama-cpp@$NODE_LLAMA_CPP_VERSION from the npm registry (llama.cpp sources inside)"
  local npmdir="$WORK/npm"
  mkdir -p "$npmdir"
  local tgz="$npmdir/node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz"
  if [ ! -f "$tgz" ]; then
    if command -v npm >/dev/null 2>&1; then
      (cd "$npmdir" && npm pack --silent "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >/dev/null)
    else
      curl -fL --progress-bar -o "$tgz.part" \
        "https://registry.npmjs.org/node-llama-cpp/-/node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz"
      mv "$tgz.part" "$tgz"
    fi
  fi
  tar -xzf "$tgz" -C "$npmdir" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
  echo "    llama.cpp release per node-llama-cpp: $(tr -d ' \n' < "$npmdir/package/llama/llama.cpp.info.json")" >&2
  rm -rf "$LLAMA_DIR.part"
  git -c advice.detachedHead=false clone --quiet "$npmdir/package/llama/gitRelease.bundle" "$LLAMA_DIR.part"
  mv "$LLAMA_DIR.part" "$LLAMA_DIR"
  echo "    commit $(git -C "$LLAMA_DIR" rev-parse HEAD)" >&2
}

build_llamacpp() {
  if [ -x "$LLAMA_BIN/llama-bench" ] && [ -f "$LLAMA_BIN/libllama.so" ]; then
    log "llama.cpp build: $LLAMA_BIN/llama-bench (present, skipped)"
    return
  fi
  log "building llama.cpp's llama-bench for this CPU (Release, GGML_NATIVE=ON, -j$JOBS; log: $WORK/llamacpp-build.log)"
  (cd "$LLAMA_DIR" &&
    cmake -B build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
      -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF >"$WORK/llamacpp-cmake.log" 2>&1 &&
    cmake --build build -j"$JOBS" --target llama-bench 2>&1 | tee "$WORK/llamacpp-build.log" |
      grep --line-buffered -E '\[ *[0-9]+%\]|error' >&2) || { echo "llama.cpp build failed; see $WORK/llamacpp-build.log" >&2; exit 1; }
  [ -x "$LLAMA_BIN/llama-bench" ] || { echo "llama.cpp build produced no llama-bench; see $WORK/llamacpp-build.log" >&2; exit 1; }
}

# llama-quantize from the same sources and build: compiled like llama_greedy.cpp, against the libraries the llama-bench
# build made (libllama, libllama-common, ggml), so no second llama.cpp build is needed.
LLAMA_QUANTIZE="${LLAMA_QUANTIZE:-$WORK/llama-quantize}"
build_llama_quantize() {
  if [ -x "$LLAMA_QUANTIZE" ]; then
    log "llama-quantize: $LLAMA_QUANTIZE (present, skipped)"
    return
  fi
  if [ -x "$LLAMA_BIN/llama-quantize" ]; then
    ln -sf "$LLAMA_BIN/llama-quantize" "$LLAMA_QUANTIZE"
    return
  fi
  local q="$LLAMA_DIR/tools/quantize"
  [ -f "$q/quantize.cpp" ] || { echo "no $q/quantize.cpp in these llama.cpp sources" >&2; exit 1; }
  log "compiling llama-quantize ($q) against $LLAMA_BIN"
  g++ -O2 -std=c++17 -I"$LLAMA_DIR/include" -I"$LLAMA_DIR/ggml/include" -I"$LLAMA_DIR/common" -I"$q" \
    "$q/main.cpp" "$q/quantize.cpp" -L"$LLAMA_BIN" -lllama-common -lllama -lggml -lggml-base -pthread \
    -Wl,-rpath,"$LLAMA_BIN" -o "$LLAMA_QUANTIZE.part"
  mv "$LLAMA_QUANTIZE.part" "$LLAMA_QUANTIZE"
}

# quantize_gguf SRC.gguf OUT.gguf TYPE: llama-quantize (Q8_0, Q4_0, Q4_K_M, ...), all of llama.cpp's defaults
quantize_gguf() {
  local src="$1" out="$2" type="$3"
  if [ -f "$out" ] && [ "$out" -nt "$src" ]; then
    log "GGUF $type: $out (present, skipped)"
    return
  fi
  log "llama-quantize $src -> $out ($type)"
  "$LLAMA_QUANTIZE" "$src" "$out.part" "$type" "$THREADS" > "$out.log" 2>&1 || { echo "llama-quantize failed; see $out.log" >&2; exit 1; }
  mv "$out.part" "$out"
}

# quantize_n4j OUT_DIR TYPE: nemotron4j quantize of the bench model with quantize's default policy for TYPE (q8: "all",
# every Linear weight, as llama.cpp's Q8_0; q4: "mixed6", in_proj and MLP up/down_proj in q4, the Mamba out_proj, the
# attention projections and lm_head in q6, as Q4_K_M keeps some tensors at Q6_K), or N4J_POLICY when set. A copy
# made with another policy is made again.
N4J_POLICY="${N4J_POLICY:-}"
quantize_n4j() {
  local out="$1" type="$2"
  local want="${N4J_POLICY:-$([ "$type" = q4 ] && echo mixed6 || echo all)}"
  if [ -f "$out/config.json" ] && [ "$out/config.json" -nt "$MODEL_DIR/config.json" ] &&
     grep -q "\"policy\" *: *\"$want\"" "$out/config.json"; then
    log "nemotron4j $type ($want): $out (present, skipped)"
    return
  fi
  log "nemotron4j quantize --model $MODEL_DIR --out $out --type $type --policy $want"
  rm -rf "$out"
  $N4J quantize --model "$MODEL_DIR" --out "$out" --type "$type" --policy "$want"
}

# (b) the benchmark checkpoint (random bf16 weights, Hugging Face layout)
create_model() {
  if [ -f "$MODEL_DIR/config.json" ] && [ -n "$(ls "$MODEL_DIR"/*.safetensors 2>/dev/null)" ]; then
    log "model: $MODEL_DIR (present, skipped)"
    return
  fi
  log "creating the bench model: $N4J create-model --config $BENCH_CONFIG --out $MODEL_DIR --seed $MODEL_SEED"
  $N4J create-model --config "$BENCH_CONFIG" --out "$MODEL_DIR" --seed "$MODEL_SEED"
}

# (c) HF checkpoint -> GGUF with our converter (numpy + llama.cpp's gguf-py)
convert_model() { # convert_model OUT.gguf [bf16|f32]
  local out="$1" type="${2:-bf16}"
  if [ -f "$out" ] && [ "$out" -nt "$MODEL_DIR/config.json" ]; then
    log "GGUF: $out (present, skipped)"
    return
  fi
  log "converting $MODEL_DIR -> $out ($type)"
  PYTHONPATH="$LLAMA_DIR/gguf-py${PYTHONPATH:+:$PYTHONPATH}" python3 "$here/hf_to_gguf.py" "$MODEL_DIR" "$out.part" --outtype "$type"
  mv "$out.part" "$out"
}

# Build processes (compilers, make, cmake, Maven) other than this script's own process tree, one "PID cmdline" a line.
BUSY_PATTERN="${BUSY_PATTERN:-make|cmake|cc1plus|mvn}"
SELF_PIDS=" $(p=$$; while [ "${p:-1}" -gt 1 ]; do printf '%s ' "$p"; p=$(ps -o ppid= -p "$p" | tr -d ' '); done)"
SELF_CMDLINE="$(tr '\0' ' ' < /proc/$$/cmdline | sed 's/ $//')"
busy_procs() {
  local pid cmd
  pgrep -af "$BUSY_PATTERN" | while read -r pid cmd; do
    case "$SELF_PIDS" in *" $pid "*) continue ;; esac
    [ "$cmd" = "$SELF_CMDLINE" ] && continue          # our own subshells (same command line)
    case "$cmd" in pgrep*|grep*) continue ;; esac
    printf '%s %s\n' "$pid" "$cmd"
  done
}

# Benchmarks need the two cores to themselves: wait while a compiler or build tool runs (up to IDLE_WAIT_S seconds).
wait_idle() {
  local waited=0 limit="${IDLE_WAIT_S:-1800}" busy
  while busy=$(busy_procs); [ -n "$busy" ]; do
    if [ "$waited" -ge "$limit" ]; then
      echo "    warning: still busy after ${limit}s, benchmarking anyway:" >&2
      echo "$busy" | cut -c1-120 | sed 's/^/      /' >&2
      return
    fi
    [ "$waited" -eq 0 ] && { echo "    waiting for builds to finish before timing:" >&2; echo "$busy" | cut -c1-120 | sed 's/^/      /' >&2; }
    sleep 20
    waited=$((waited + 20))
  done
  [ "$waited" -gt 0 ] && echo "    (waited ${waited}s for builds to finish)" >&2
  return 0
}

# bench_step LABEL COMMAND...: wait_idle, then run the command timed while sampling every 2 s for build processes;
# if any showed up mid-measurement, say so (the figures are then suspect) and remember it for the summary.
declare -a CONTENDED=()
bench_step() {
  local label="$1"; shift
  wait_idle
  local seen="$WORK/.contention.$$"
  : > "$seen"
  ( while :; do busy_procs >> "$seen"; sleep 2; done ) &
  local mon=$! rc=0
  timed "$label" "$@" || rc=$?
  kill "$mon" 2>/dev/null || true
  wait "$mon" 2>/dev/null || true
  [ "$rc" = 0 ] || { rm -f "$seen"; echo "    $label failed (exit $rc)" >&2; exit "$rc"; }
  if [ -s "$seen" ]; then
    echo "    WARNING: build processes ran during this measurement; its figures are suspect:" >&2
    awk '{ $1 = ""; print substr($0, 2, 110) }' "$seen" | sort -u | head -5 | sed 's/^/      /' >&2
    CONTENDED+=("$label")
  fi
  rm -f "$seen"
}
print_contention() {
  local c
  for c in "${CONTENDED[@]}"; do printf 'WARNING: build processes ran during "%s"; rerun when the machine is idle\n' "$c"; done
}

machine_info() {
  echo "date:      $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu:       $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; flags: $(grep -o -w -E 'avx2|fma|f16c|avx512f|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "memory:    $(free -g | awk '/Mem:/ {print $2 " GiB"}')"
  echo "llama.cpp: $(git -C "$LLAMA_DIR" rev-parse --short HEAD 2>/dev/null) from node-llama-cpp@$NODE_LLAMA_CPP_VERSION ($(tr -d ' \n' < "$WORK/npm/package/llama/llama.cpp.info.json" 2>/dev/null || echo '?'))"
  if [ -n "${N4J_NOTE:-}" ]; then
    echo "nemotron4j: $N4J_NOTE, run as: $N4J"
  else
    echo "nemotron4j: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null)$( [ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' + uncommitted changes'), run as: $N4J"
  fi
}
