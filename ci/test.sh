#!/usr/bin/env bash
# The project's test command (README, .ci/run): native build + CTest (and CTest on an emulated AVX512-BF16 build), then
# the Maven build with all JUnit tests, on CPU.
# When nvcc is present the CUDA library is compiled too (its kernels run on a GPU only in ci/gpu-test.sh; every kernel
# runs here on the CPU emulator of CTest's cuda_emulation_test).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/find-jdk.sh
echo "== JDK: $JAVA_HOME"

if [ ! -d ../shared/fixtures ]; then
  echo "ERROR: ../shared/fixtures is missing: the golden-model, tokenizer and chat-template tests need it." >&2
  exit 1
fi

jobs=$(nproc 2>/dev/null || echo 2)
echo "== native: configure + build (build/native)"
cmake -S . -B build/native -DCMAKE_BUILD_TYPE=Release -DN4J_CUDA="${N4J_CUDA:-AUTO}"
cmake --build build/native --parallel "$jobs"

echo "== native: unit tests (CTest)"
ctest --test-dir build/native --output-on-failure -j "$jobs"
# cuda_emulation_test's coverage table (every kernel of native/src/cuda run on the CUDA emulator: launches, tests,
# shapes), from the CTest log.
echo "== native: CUDA kernels on the emulator (cuda_emulation_test)"
sed -n '/^coverage: every __global__ kernel/,/^cuda_emulation_test:/p' build/native/Testing/Temporary/LastTest.log || true

# The native tests once more on a library that behaves as on an AVX512-BF16 CPU (the BF16 dot-product matmul with the
# instruction modelled in scalar code), so that path stays tested on machines without it. N4J_SKIP_AVX512_EMULATION=1
# skips it.
if [ "${N4J_SKIP_AVX512_EMULATION:-0}" != 1 ]; then
  echo "== native: unit tests as on an AVX512-BF16 CPU (emulated; build/native-avx512emu)"
  cmake -S . -B build/native-avx512emu -DCMAKE_BUILD_TYPE=Release -DN4J_CUDA=OFF -DN4J_EMULATE_AVX512BF16=ON
  cmake --build build/native-avx512emu --parallel "$jobs"
  ctest --test-dir build/native-avx512emu --output-on-failure -j "$jobs" -E cuda_emulation_test
fi

echo "== Maven: build + JUnit"
mvn -B -ntp -Dstyle.color=never install "$@"
