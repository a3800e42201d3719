#!/usr/bin/env bash
# The project's test command (README, .ci/run): native build + CTest, then the Maven build with all JUnit tests, on CPU.
# When nvcc is present the CUDA library is compiled too (its kernels run only in ci/gpu-test.sh on a GPU machine).
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

echo "== Maven: build + JUnit"
mvn -B -ntp -Dstyle.color=never install "$@"
