#!/usr/bin/env bash
# ci/gpu-check.sh OUTDIR: the first run on a lent GPU in one call (an H100/H200 with 16 CPU cores and the CUDA
# toolkit; under 7 minutes), every log and a one-screen summary (OUTDIR/summary.txt) in OUTDIR:
#   1. environment    nvidia-smi, nvcc --version, host CPU                                  env.log
#   2. build          build/gpu-check, sm_90a only (N4J_CUDA_ARCHS overrides), only the targets the checks need
#                     (libnemotron4j, libnemotron4j_cuda, cuda_backend_test, cuda_graph_test, cuda_op_bench),
#                     nvcc -Xptxas -v:
#                     the register / spill / shared-memory report per kernel                 build.log, ptxas.log
#   3. quick          cuda_backend_test --quick (must pass, not skip: N4J_REQUIRE_CUDA=1)     backend-quick.log
#   4. full           cuda_backend_test (all sizes, the 9B shapes) under N4J_CHECK_FULL_TIMEOUT seconds (default
#                     150; a time-out is reported as such)                                     backend-full.log
#      graphs         cuda_graph_test: CUDA-graph decode steps replay what eager steps compute, bitwise
#                     (cuda_graph_test_emulated on the emulated plug-in)                       graphs.log
#   5. memcheck       compute-sanitizer --tool memcheck on the quick matmul and attention cases
#                                                                             memcheck-matmul.log, memcheck-attention.log
#   6. java           the GPU-tagged JUnit tests from the prebuilt bundle .gpu/ (ci/gpu-bundle.sh on a build machine;
#                     carry .gpu), run > 0 and skipped 0 required                               java.log
#   7. bench          cuda_op_bench --quick                                                     bench.log
# Steps keep going after a failure; the exit status is non-zero when any step failed.
#
# Emulated mode (--emulated or N4J_GPU_CHECK_EMULATED=1), for machines without a GPU: the same script against the
# emulated plug-in (libnemotron4j_cuda_emu.so: every CUDA file of native/src/cuda on the CPU emulator, see
# native/tests/cuda_emu/runtime.h), so that on a GPU only the hardware is new. There the build is the host compiler's
# (-DN4J_CUDA=OFF), and the steps that only mean something on a GPU are reported SKIP with the reason: nvidia-smi,
# the ptxas report, the full-size cuda_backend_test (hours on the emulator; the quick run covers the same code),
# compute-sanitizer (the emulator's poisoned device memory, guard pages and unmapped frees stand in) and the
# op benchmark (no timing on the emulator). The Java step runs with -Dn4j.gpu.emulated=true (emulator-sized shapes).
#
# Usage: ci/gpu-check.sh OUTDIR [--emulated]
set -uo pipefail
cd "$(dirname "$0")/.."

out=""
emulated=${N4J_GPU_CHECK_EMULATED:-0}
for arg in "$@"; do
  case "$arg" in
    --emulated) emulated=1 ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) out=$arg ;;
  esac
done
if [ -z "$out" ]; then
  echo "usage: ci/gpu-check.sh OUTDIR [--emulated]" >&2
  exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
build=${N4J_CHECK_BUILD_DIR:-build/gpu-check}
start_all=$SECONDS
summary=()
failed=0

finish() {
  {
    echo "================ ci/gpu-check.sh summary ================"
    echo "  mode: $([ "$emulated" = 1 ] && echo "EMULATED (libnemotron4j_cuda_emu.so, no GPU)" || echo GPU)"
    echo "  device: ${device_name:-?}"
    for line in "${summary[@]}"; do echo "  $line"; done
    if [ -s "$out/ptxas.log" ]; then
      echo "  ptxas: $(grep -c 'Used [0-9]* registers' "$out/ptxas.log") kernels;" \
        "max registers $(grep -o 'Used [0-9]* registers' "$out/ptxas.log" | awk '{print $2}' | sort -n | tail -1);" \
        "$(grep -E 'bytes spill (stores|loads)' "$out/ptxas.log" | grep -vc ' 0 bytes spill stores, 0 bytes spill loads') with spills"
    fi
    if [ "$failed" -eq 0 ]; then echo "  RESULT: PASS ($((SECONDS - start_all))s)"; else echo "  RESULT: FAIL ($failed step(s), $((SECONDS - start_all))s)"; fi
    echo "  logs: $out/"
  } | tee "$out/summary.txt"
}
trap finish EXIT

# step NAME LOG COMMAND...: runs it with its output saved (and the tail shown), records PASS/FAIL and the time.
step() {
  local name=$1 log=$2
  shift 2
  echo "== $name"
  local t0=$SECONDS status=0
  "$@" > "$out/$log" 2>&1 || status=$?
  tail -n 5 "$out/$log"
  local took=$((SECONDS - t0))
  if [ "$status" -eq 0 ]; then
    summary+=("PASS  $name (${took}s)")
  elif [ "$status" -eq 124 ]; then
    summary+=("TIME  $name (${took}s: stopped at the time limit; log $log)")
  else
    summary+=("FAIL  $name (${took}s, exit $status, log $log)")
    failed=$((failed + 1))
  fi
  return "$status"
}
skip() { summary+=("SKIP  $1 ($2)"); echo "== $1: skipped ($2)"; }

# ---- 1. environment
if [ "$emulated" = 1 ]; then
  skip "nvidia-smi" "emulated"
  device_name="CUDA emulator (H100 SXM properties), host $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
else
  if ! step "nvidia-smi" env.log nvidia-smi; then
    echo "ERROR: no NVIDIA GPU / driver here (use --emulated without one)" >&2
    exit 1
  fi
  device_name=$(nvidia-smi --query-gpu=name,compute_cap,memory.total --format=csv,noheader | head -1)
  { echo; nvcc --version; echo; grep -m1 'model name' /proc/cpuinfo; nproc; } >> "$out/env.log" 2>&1
fi

# ---- 2. build: only what the checks need
archs=${N4J_CUDA_ARCHS:-90a}
configure_and_build() {
  if [ "$emulated" = 1 ]; then
    # A fresh build directory is configured without CUDA; an existing one (N4J_CHECK_BUILD_DIR=build/native, the test
    # command's build) keeps its configuration, and only the targets below are brought up to date.
    local cuda_option=()
    [ -f "$build/CMakeCache.txt" ] || cuda_option=(-DN4J_CUDA=OFF)
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "${cuda_option[@]}" &&
      cmake --build "$build" --parallel "$jobs" --target nemotron4j nemotron4j_cuda_emu cuda_backend_test \
        cuda_graph_test_emulated
  else
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DN4J_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$archs" \
      "-DCMAKE_CUDA_FLAGS=-Xptxas -v" &&
      cmake --build "$build" --parallel "$jobs" --target nemotron4j nemotron4j_cuda cuda_backend_test cuda_graph_test \
        cuda_op_bench
  fi
}
if ! step "build ($([ "$emulated" = 1 ] && echo host compiler, emulated plug-in || echo "sm_$archs, -Xptxas -v"))" build.log configure_and_build; then
  exit 1
fi
# Where the test programs are: cuda_backend_test at the top of a build with CUDA (cuda.cmake), in the emulator's
# directory without it; the emulator's own tests there.
bin="$build"
emu_bin="$build/native/tests/cuda_emu"
if [ "$emulated" = 1 ] && [ ! -f "$build/libnemotron4j_cuda.so" ]; then
  bin="$emu_bin"
fi
if [ "$emulated" = 1 ]; then
  plugin="$PWD/$build/libnemotron4j_cuda_emu.so"
  skip "ptxas register/spill report" "emulated: no nvcc device code"
else
  plugin="$PWD/$build/libnemotron4j_cuda.so"
  # ptxas -v: "Compiling entry function '<mangled>' for 'sm_90a'" then "Used N registers, ... bytes smem" and the
  # spill line; kept whole, demangled where c++filt exists.
  grep -E "ptxas info|bytes stack frame" "$out/build.log" | { command -v c++filt >/dev/null && c++filt || cat; } > "$out/ptxas.log"
fi
export N4J_CUDA_LIBRARY="$plugin"
export N4J_REQUIRE_CUDA=1

# ---- 3 / 4. cuda_backend_test
step "cuda_backend_test --quick" backend-quick.log "$bin/cuda_backend_test" --quick
if [ "$emulated" = 1 ]; then
  skip "cuda_backend_test full" "emulated: the 9B shapes take hours on the emulator; --quick covers the same code"
else
  step "cuda_backend_test full (limit ${N4J_CHECK_FULL_TIMEOUT:-150}s)" backend-full.log \
    timeout "${N4J_CHECK_FULL_TIMEOUT:-150}" "$bin/cuda_backend_test"
fi

# CUDA graphs of the decode step against eager steps (the emulated runtime models capture and replay)
if [ "$emulated" = 1 ]; then
  step "cuda_graph_test (graph replay = eager, bitwise)" graphs.log "$emu_bin/cuda_graph_test_emulated"
else
  step "cuda_graph_test (graph replay = eager, bitwise)" graphs.log timeout 300 "$bin/cuda_graph_test"
fi

# ---- 5. compute-sanitizer memcheck on the quick matmul and attention cases
if [ "$emulated" = 1 ]; then
  skip "compute-sanitizer memcheck" "emulated: poisoned device memory, guard pages and unmapped frees stand in"
else
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  for only in matmul attention; do
    step "compute-sanitizer memcheck ($only, quick)" "memcheck-$only.log" \
      timeout "${N4J_SANITIZER_TIMEOUT:-120}" "$sanitizer" --tool memcheck --error-exitcode 99 \
      "$bin/cuda_backend_test" --quick --only "$only"
  done
fi

# ---- 6. the GPU-tagged JUnit tests from the bundle
java_tests() {
  if [ ! -f .gpu/lib/nemotron4j.jar ] || [ ! -f .gpu/jre.tar.xz ]; then
    echo "no .gpu/ bundle: run ci/gpu-bundle.sh on a build machine and carry .gpu" >&2
    return 1
  fi
  local jre=build/gpu-jre
  if [ ! -x "$jre/bin/java" ] || [ .gpu/jre.tar.xz -nt "$jre/bin/java" ]; then
    rm -rf "$jre" build/jre && mkdir -p build && tar -C build -xJf .gpu/jre.tar.xz && mv build/jre "$jre" && touch "$jre/bin/java"
  fi
  local console fixtures=${N4J_FIXTURES:-}
  console=$(ls .gpu/lib/junit-platform-console-standalone-*.jar | head -1)
  [ -z "$fixtures" ] && { [ -d ../shared/fixtures ] && fixtures=$(cd ../shared/fixtures && pwd) || fixtures="$PWD/.gpu/fixtures"; }
  "$jre/bin/java" --enable-native-access=ALL-UNNAMED -Xss4m -Dn4j.fixtures="$fixtures" -Dn4j.root="$PWD" \
    -Dnemotron4j.library.dir="$PWD/$build" -Dn4j.gpu.require=true -Dn4j.gpu.emulated="$([ "$emulated" = 1 ] && echo true || echo false)" \
    -jar "$console" execute --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests --include-tag gpu \
    --class-path .gpu/lib/nemotron4j.jar:.gpu/lib/nemotron4j-core-tests.jar \
    --scan-class-path .gpu/lib/nemotron4j-core-tests.jar > "$out/java-console.out" 2>&1
  local status=$?
  cat "$out/java-console.out"
  [ "$status" -eq 0 ] || return "$status"
  if grep -Eq "\[ +[1-9][0-9]* (containers|tests) (aborted|skipped|failed) +\]" "$out/java-console.out"; then
    echo "ERROR: GPU tests were skipped, aborted or failed" >&2
    return 1
  fi
  grep -Eq "\[ +[1-9][0-9]* tests successful +\]" "$out/java-console.out" || { echo "ERROR: no GPU test ran" >&2; return 1; }
}
step "Java GPU tests (.gpu bundle)" java.log java_tests

# ---- 7. op benchmark
if [ "$emulated" = 1 ]; then
  skip "cuda_op_bench --quick" "emulated: no timing on the emulator"
else
  step "cuda_op_bench --quick" bench.log timeout "${N4J_BENCH_TIMEOUT:-120}" "$bin/cuda_op_bench" --quick
fi

[ "$failed" -eq 0 ]
