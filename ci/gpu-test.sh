#!/usr/bin/env bash
# GPU test run (DESIGN.md, "Tests and CI"), on a machine with an NVIDIA GPU (sm_80 or newer), its driver and the CUDA
# toolkit (nvcc, compute-sanitizer):
#   1. nvidia-smi
#   2. native build with the CUDA backend (build/native, -DN4J_CUDA=ON), for this GPU's architecture only unless
#      N4J_CUDA_ARCHS says otherwise (e.g. N4J_CUDA_ARCHS="80;86;89;90a")
#   3. CTest, where the CUDA cross-backend test must PASS (a skip is a failure here: N4J_REQUIRE_CUDA=1)
#   4. compute-sanitizer memcheck and racecheck on the CUDA test in its reduced-size mode (--quick)
#   5. the GPU-tagged JUnit tests (golden fixtures on CUDA, CUDA engine against the CPU engine), which must run, not
#      skip: through Maven where a JDK >= 22 and Maven are installed, otherwise through the runtime, jars and fixtures
#      that ci/gpu-bundle.sh put in .gpu/ on a build machine (carry .gpu along: the device machines have no JDK,
#      no Maven and no network). .gpu/ is used whenever it is present.
#   6. the op benchmark (GEMV GB/s, GEMM TFLOP/s, SSD scan, attention) on the 9B shapes
# Steps after the build keep going when one fails, so one run reports everything; the summary at the end lists each
# step, and the exit status is non-zero if any failed. Skip steps with N4J_GPU_SKIP="sanitizer java bench" (any
# subset); extra Maven arguments go after the script's name. ci/gpu-bench.sh measures the whole 9B model.
# Each compute-sanitizer run is limited to N4J_SANITIZER_TIMEOUT seconds (default 300). Where one command may run
# at most 10 minutes (this workplace's device machines), split the run; the build is incremental between calls:
#   N4J_GPU_SKIP="sanitizer java bench" bash ci/gpu-test.sh     (build, CTest)
#   N4J_GPU_SKIP="java bench" bash ci/gpu-test.sh               (+ sanitizers)
#   N4J_GPU_SKIP="sanitizer" bash ci/gpu-test.sh                (+ JUnit, op benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc 2>/dev/null || echo 2)
build=build/native
skip=" ${N4J_GPU_SKIP:-} "
# The golden fixtures: ../shared/fixtures on a build machine, .gpu/fixtures where the bundle carried them.
if [ -z "${N4J_FIXTURES:-}" ] && [ ! -d ../shared/fixtures ] && [ -d .gpu/fixtures ]; then
  export N4J_FIXTURES="$PWD/.gpu/fixtures"
fi
mkdir -p build/gpu-test
log_dir=build/gpu-test
summary=()
failed=0

print_summary() {
  echo
  echo "================ GPU test summary ================"
  for line in "${summary[@]}"; do echo "  $line"; done
  if [ "$failed" -eq 0 ]; then echo "  RESULT: PASS"; else echo "  RESULT: FAIL ($failed step(s))"; fi
  echo "  logs: $log_dir/"
}
trap print_summary EXIT

# step NAME LOGFILE COMMAND...: runs the command with its output shown and saved, records PASS/FAIL and the time.
step() {
  local name=$1 log=$2
  shift 2
  echo
  echo "== $name"
  local start=$SECONDS status=0
  "$@" 2>&1 | tee "$log_dir/$log" || status=$?
  local took=$((SECONDS - start))
  if [ "$status" -eq 0 ]; then
    summary+=("PASS  $name (${took}s)")
  else
    summary+=("FAIL  $name (${took}s, exit $status, log $log_dir/$log)")
    failed=$((failed + 1))
  fi
  return "$status"
}

skipped() { case "$skip" in *" $1 "*) summary+=("SKIP  $1 (N4J_GPU_SKIP)"); return 0 ;; esac; return 1; }

# The host CPU too: the CPU tests run here as well, and AVX-512 / AVX512-BF16 kernels can only be checked on a host
# that has them.
echo "== host CPU: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2-) ($(nproc) threads)"
echo "   $(grep -m1 -o -w -E 'avx512f|avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null | sort -u | tr '\n' ' ')"
if ! step "nvidia-smi" nvidia-smi.log nvidia-smi; then
  echo "ERROR: nvidia-smi failed: this script needs a machine with an NVIDIA GPU and its driver." >&2
  exit 1
fi

# This GPU's architecture (9.0 -> 90a, 8.6 -> 86) unless N4J_CUDA_ARCHS names others: one architecture builds in a
# fraction of the time of four.
archs=${N4J_CUDA_ARCHS:-}
if [ -z "$archs" ]; then
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  case "$cap" in
    90) archs=90a ;;
    [0-9][0-9]) archs=$cap ;;
    *) archs="80;86;89;90a" ;;
  esac
fi
echo "== CUDA architectures: $archs"
configure_and_build() {
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DN4J_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$archs" &&
    cmake --build "$build" --parallel "$jobs"
}
if ! step "native build with CUDA ($build)" build.log configure_and_build; then
  exit 1
fi

# The CUDA harness must run, not skip: with N4J_REQUIRE_CUDA=1 it exits 1 instead of 77 when it finds no device.
run_ctest() {
  N4J_REQUIRE_CUDA=1 ctest --test-dir "$build" --output-on-failure -j "$jobs" || return 1
  if ! ctest --test-dir "$build" -N | grep -q "cuda_backend_test"; then
    echo "ERROR: cuda_backend_test is not registered in CTest" >&2
    return 1
  fi
  return 0
}
step "ctest (CUDA cross-backend test must pass)" ctest.log run_ctest || true
if grep -Eq "cuda_backend_test[ .]*\*+(Skipped|Not Run)" "$log_dir/ctest.log"; then
  summary+=("FAIL  cuda_backend_test was skipped: it must run on a GPU machine")
  failed=$((failed + 1))
fi

sanitizer=$(command -v compute-sanitizer || true)
[ -z "$sanitizer" ] && [ -x /usr/local/cuda/bin/compute-sanitizer ] && sanitizer=/usr/local/cuda/bin/compute-sanitizer
if ! skipped sanitizer; then
  if [ -z "$sanitizer" ]; then
    summary+=("FAIL  compute-sanitizer not found (PATH or /usr/local/cuda/bin)")
    failed=$((failed + 1))
  else
    export N4J_CUDA_LIBRARY="$PWD/$build/libnemotron4j_cuda.so"
    step "compute-sanitizer memcheck (cuda_backend_test --quick)" memcheck.log \
      env N4J_REQUIRE_CUDA=1 timeout "${N4J_SANITIZER_TIMEOUT:-300}" "$sanitizer" --tool memcheck --error-exitcode 99 \
      "$build/cuda_backend_test" --quick || true
    step "compute-sanitizer racecheck (cuda_backend_test --quick)" racecheck.log \
      env N4J_REQUIRE_CUDA=1 timeout "${N4J_SANITIZER_TIMEOUT:-300}" "$sanitizer" --tool racecheck --error-exitcode 99 \
      "$build/cuda_backend_test" --quick || true
    unset N4J_CUDA_LIBRARY
  fi
fi

# The GPU-tagged JUnit tests. With .gpu/ (ci/gpu-bundle.sh): its Java runtime, unpacked once into build/gpu-jre,
# runs the JUnit console launcher over the core module's compiled tests. Otherwise Maven with a JDK >= 22.
junit_console() {
  local jre=build/gpu-jre
  if [ ! -x "$jre/bin/java" ] || [ .gpu/jre.tar.xz -nt "$jre/bin/java" ]; then
    rm -rf "$jre" && mkdir -p build && tar -C build -xJf .gpu/jre.tar.xz && mv build/jre "$jre" && touch "$jre/bin/java"
  fi
  "$jre/bin/java" -version 2>&1 | head -1
  local console
  console=$(ls .gpu/lib/junit-platform-console-standalone-*.jar | head -1)
  "$jre/bin/java" --enable-native-access=ALL-UNNAMED -Dn4j.fixtures="$PWD/.gpu/fixtures" -Dn4j.root="$PWD" \
    -Dnemotron4j.library.dir="$PWD/$build" -jar "$console" execute --disable-banner --disable-ansi-colors \
    --details=tree --fail-if-no-tests --include-tag gpu \
    --class-path .gpu/lib/nemotron4j.jar:.gpu/lib/nemotron4j-core-tests.jar \
    --scan-class-path .gpu/lib/nemotron4j-core-tests.jar "$@" > "$log_dir/junit-console.out" 2>&1
  local status=$?
  cat "$log_dir/junit-console.out"
  [ "$status" -eq 0 ] || return "$status"
  # A GPU test that skips (an assumption failed: no device, driver or plug-in) is a failure on a GPU machine.
  if grep -Eq "\[ +[1-9][0-9]* (containers|tests) (aborted|skipped|failed) +\]" "$log_dir/junit-console.out"; then
    echo "ERROR: GPU tests were skipped, aborted or failed (see above)" >&2
    return 1
  fi
  grep -Eq "\[ +[1-9][0-9]* tests successful +\]" "$log_dir/junit-console.out" || { echo "ERROR: no GPU test ran" >&2; return 1; }
}
if ! skipped java; then
  if [ -f .gpu/lib/nemotron4j.jar ] && [ -f .gpu/jre.tar.xz ]; then
    step "GPU JUnit tests (.gpu bundle, JUnit console)" junit.log junit_console || true
  elif command -v mvn >/dev/null 2>&1 && (source ci/find-jdk.sh) >/dev/null 2>&1; then
    source ci/find-jdk.sh
    step "GPU JUnit tests (Maven, -Dn4j.groups=gpu)" maven.log \
      mvn -B -ntp -Dstyle.color=never install -Dn4j.cuda=ON -Dn4j.excludedGroups= -Dn4j.groups=gpu "$@" || true
  else
    summary+=("FAIL  GPU JUnit tests: no .gpu/ bundle (run ci/gpu-bundle.sh on a build machine and carry .gpu) and no JDK >= 22 with Maven")
    failed=$((failed + 1))
  fi
fi

if ! skipped bench; then
  step "op benchmark (cuda_op_bench)" bench.log "$build/cuda_op_bench" || true
fi

[ "$failed" -eq 0 ]
