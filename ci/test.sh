#!/usr/bin/env bash
# The project's test command (README, .ci/run): native build + CTest (and CTest on an emulated AVX512-BF16 build), then
# the Maven build with all JUnit tests, on CPU.
# When nvcc is present the CUDA library is compiled too (its kernels run on a GPU only in ci/gpu-test.sh and
# ci/gpu-check.sh). Every kernel runs here on the CPU emulator (CTest's cuda_emulation_test), and the whole plug-in
# as libnemotron4j_cuda_emu.so: CTest's cuda_backend_test_emulated and the GPU-tagged JUnit tests.
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
  cmake -S . -B build/native-avx512emu -DCMAKE_BUILD_TYPE=Release -DN4J_CUDA=OFF -DN4J_CUDA_EMU=OFF -DN4J_EMULATE_AVX512BF16=ON
  cmake --build build/native-avx512emu --parallel "$jobs"
  ctest --test-dir build/native-avx512emu --output-on-failure -j "$jobs" -E "cuda"  # the CUDA tests ran above
fi

# The GPU-tagged JUnit tests run too, on the emulated CUDA plug-in built by CTest's build above (java/core's
# cuda-emulated profile: a second surefire run with only the gpu tag, which must not skip).
# They run a second time with the prefill GEMMs through the cuBLASLt glue and the emulator's stand-in libcublasLt
# (java/core's cuda-emulated-cublaslt profile: N4J_CUDA_GEMM=cublaslt).
# The same property runs Fp8W8a8GpuTest with Fp8Activations.W8A8 (java/core's cuda-emulated-w8a8 profile).
emulated_plugin="$PWD/build/native/libnemotron4j_cuda_emu.so"
cublaslt_standin="$PWD/build/native/libcublasLt_standin.so"
maven_emulated=()
if [ -f "$emulated_plugin" ]; then
  maven_emulated=("-Dn4j.cuda.emulated=$emulated_plugin")
  if [ -f "$cublaslt_standin" ]; then
    maven_emulated+=("-Dn4j.cublaslt.standin=$cublaslt_standin")
  else
    echo "WARNING: $cublaslt_standin is missing: the GPU-tagged JUnit tests will not run through cuBLASLt" >&2
  fi
else
  echo "WARNING: $emulated_plugin is missing: the GPU-tagged JUnit tests will not run" >&2
fi
echo "== Maven: build + JUnit (GPU-tagged tests on the emulated CUDA plug-in, own GEMMs and through cuBLASLt)"
mvn -B -ntp -Dstyle.color=never install "${maven_emulated[@]}" "$@"

# A user's Maven project (examples/hello) against the artifacts just installed: it imports the BOM, depends on
# nemotron4j-core + nemotron4j-native:linux-x86_64, is a JPMS module, and runs on the module path (the library's
# module-info, its automatic-module dependencies and the native jar's loading from the module path all get used).
echo "== example: examples/hello against the installed artifacts (module path)"
mvn -B -ntp -q -Dstyle.color=never -f examples/hello/pom.xml package "$@"
# --add-modules ALL-MODULE-PATH: Jinjava is an automatic module, and an automatic module's own dependencies
# (commons-lang3, guava, ...) are not resolved unless something names them.
"$JAVA_HOME/bin/java" --enable-native-access=org.nemotron4j,org.nemotron4j.bindings --add-modules ALL-MODULE-PATH \
  -p examples/hello/target/modules -m org.nemotron4j.example/org.nemotron4j.example.Hello \
  "$PWD/models/nemotron-h-demo" "And God said" | tee build/example.out
grep -q '^completion: .' build/example.out || { echo "ERROR: the example printed no completion" >&2; exit 1; }

# The distribution (dist/, made by the Maven build) on a machine without a JDK: ci/dist-nojdk.sh unpacks it in a
# private mount namespace in which every JDK, Maven and this build tree are hidden (tmpfs over /usr/lib/jvm, /work, ...;
# `find / -xdev` must find no java and no libjvm.so), then runs bin/nemotron4j --version, inspect and run with
# env -i PATH=/usr/bin:/bin; where unshare is not permitted it says so and runs them with env -i only.
echo "== distribution: bin/nemotron4j with no JDK reachable"
dist_tar=$(ls dist/target/nemotron4j-*-linux-x86_64.tar.gz)
java_version=$("$JAVA_HOME/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.version = //p')
ci/dist-nojdk.sh "$dist_tar" "$PWD/../shared/fixtures/nemotron-h-tiny" "$java_version" 2>&1 | tee build/dist-nojdk.out
dist_dir=$(mktemp -d)
trap 'rm -rf "$dist_dir"' EXIT
tar -xzf "$dist_tar" -C "$dist_dir"
launcher=$(ls "$dist_dir"/nemotron4j-*/bin/nemotron4j)
clean=(env -i PATH=/usr/bin:/bin HOME="$dist_dir/home")
# serve from the distribution (its jlink'd runtime must hold jdk.httpserver): start on a free port, GET /health.
"${clean[@]}" "$launcher" serve --port 0 2> build/dist-serve.err > /dev/null &
serve_pid=$!
serve_url=""
for _ in $(seq 300); do
  serve_url=$(sed -n 's/^serving [^ ]* on http:\/\/\([^ ]*\).*/\1/p' build/dist-serve.err)
  [ -n "$serve_url" ] && break
  sleep 0.2
done
[ -n "$serve_url" ] || { kill "$serve_pid"; cat build/dist-serve.err >&2; echo "ERROR: the distribution's serve did not start" >&2; exit 1; }
exec 3<>"/dev/tcp/${serve_url%:*}/${serve_url##*:}"
printf 'GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
health=$(cat <&3)
exec 3<&-
kill "$serve_pid"; wait "$serve_pid" || true
grep -q '^HTTP/1.1 200' <<< "$health" || { echo "ERROR: the distribution's serve answered: $health" >&2; exit 1; }
echo "distribution serve OK: $serve_url"
echo "distribution OK: $dist_tar ($(du -h "$dist_tar" | cut -f1))"
