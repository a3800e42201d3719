#!/usr/bin/env bash
# GPU test run (DESIGN.md, "Tests and CI"), on a machine with an NVIDIA GPU (sm_80 or newer), its driver and the CUDA
# toolkit (nvcc, compute-sanitizer):
#   1. nvidia-smi
#   2. native build with the CUDA backend (build/native, -DN4J_CUDA=ON)
#   3. CTest, where the CUDA cross-backend test must PASS (a skip is a failure here: N4J_REQUIRE_CUDA=1)
#   4. compute-sanitizer memcheck and racecheck on the CUDA test in its reduced-size mode (--quick)
#   5. Maven build with the GPU-tagged JUnit tests
#   6. the op benchmark (GEMV GB/s, GEMM TFLOP/s, SSD scan, attention) on the 9B shapes
# Steps after the build keep going when one fails, so one run reports everything; the summary at the end lists each
# step, and the exit status is non-zero if any failed. Skip steps with N4J_GPU_SKIP="sanitizer maven bench" (any
# subset); extra Maven arguments go after the script's name.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/find-jdk.sh

jobs=$(nproc 2>/dev/null || echo 2)
build=build/native
skip=" ${N4J_GPU_SKIP:-} "
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

echo "== JDK: $JAVA_HOME"
if ! step "nvidia-smi" nvidia-smi.log nvidia-smi; then
  echo "ERROR: nvidia-smi failed: this script needs a machine with an NVIDIA GPU and its driver." >&2
  exit 1
fi

configure_and_build() {
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DN4J_CUDA=ON &&
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
      env N4J_REQUIRE_CUDA=1 timeout 3600 "$sanitizer" --tool memcheck --error-exitcode 99 \
      "$build/cuda_backend_test" --quick || true
    step "compute-sanitizer racecheck (cuda_backend_test --quick)" racecheck.log \
      env N4J_REQUIRE_CUDA=1 timeout 3600 "$sanitizer" --tool racecheck --error-exitcode 99 \
      "$build/cuda_backend_test" --quick || true
    unset N4J_CUDA_LIBRARY
  fi
fi

if ! skipped maven; then
  step "maven install with GPU JUnit tests (-Dn4j.groups=gpu)" maven.log \
    mvn -B -ntp -Dstyle.color=never install -Dn4j.cuda=ON -Dn4j.excludedGroups= -Dn4j.groups=gpu "$@" || true
fi

if ! skipped bench; then
  step "op benchmark (cuda_op_bench)" bench.log "$build/cuda_op_bench" || true
fi

[ "$failed" -eq 0 ]
