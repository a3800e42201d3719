#!/usr/bin/env bash
# The whole-model GPU benchmark: random-weight NVIDIA-Nemotron-Nano-9B-v2 checkpoints (bf16 and FP8, made by
# create-model from ../shared/fixtures/configs/nemotron-nano-9b-v2.json), then `nemotron4j bench` on cuda:0:
# prefill of an 8k-token prompt, decode at batch 1 and batched decode. Run it after ci/gpu-test.sh, which builds
# build/native with the CUDA plug-in (this script builds it when it is missing).
#
# Java: the runtime and jar of .gpu/ (ci/gpu-bundle.sh) when present, else a JDK >= 22 and the launcher's jar.
# Then, on a host CPU with AVX512-BF16, the CPU benchmark model on 2 pinned cores (unless N4J_BENCH_CPU=0), and the
# JMH kernel report on the GPU (KernelReport --device cuda:0 --quick), unless N4J_BENCH_KERNELS=0.
# Environment: N4J_BENCH_DIR (where the checkpoints go, default /tmp/n4j-9b: bf16 ~18 GB, fp8 ~10 GB),
# N4J_BENCH_ARGS (default "-p 8192 -n 128 -r 2 --batch 1,8,16"), N4J_BENCH_WEIGHTS (default "bf16 fp8").
# Under a 10-minute limit per command, run it in pieces on one warm machine (the checkpoints stay in /tmp only while
# it is held): N4J_BENCH_WEIGHTS=bf16 N4J_BENCH_KERNELS=0, then N4J_BENCH_WEIGHTS=fp8 N4J_BENCH_KERNELS=0, then
# N4J_BENCH_WEIGHTS= (kernels only).
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/native
dir=${N4J_BENCH_DIR:-/tmp/n4j-9b}
bench_args=${N4J_BENCH_ARGS:--p 8192 -n 128 -r 2 --batch 1,8,16}
weights=${N4J_BENCH_WEIGHTS-bf16 fp8}
config=.gpu/fixtures/configs/nemotron-nano-9b-v2.json
[ -f "$config" ] || config=../shared/fixtures/configs/nemotron-nano-9b-v2.json
[ -f "$config" ] || { echo "ERROR: nemotron-nano-9b-v2.json not found in .gpu/fixtures/configs or ../shared/fixtures/configs" >&2; exit 1; }

if [ ! -f "$build/libnemotron4j_cuda.so" ]; then
  echo "== native build with CUDA ($build)"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DN4J_CUDA=ON
  cmake --build "$build" --parallel "$(nproc)"
fi

if [ -f .gpu/lib/nemotron4j.jar ] && [ -f .gpu/jre.tar.xz ]; then
  jre=build/gpu-jre
  if [ ! -x "$jre/bin/java" ] || [ .gpu/jre.tar.xz -nt "$jre/bin/java" ]; then
    rm -rf "$jre" && mkdir -p build && tar -C build -xJf .gpu/jre.tar.xz && mv build/jre "$jre" && touch "$jre/bin/java"
  fi
  java="$jre/bin/java"
  jar=.gpu/lib/nemotron4j.jar
else
  source ci/find-jdk.sh
  java="$JAVA_HOME/bin/java"
  jar=java/cli/target/nemotron4j.jar
  [ -f "$jar" ] || mvn -B -ntp -q -Dstyle.color=never -DskipTests install
fi

cli() {
  "$java" --enable-native-access=ALL-UNNAMED -Dnemotron4j.library.dir="$PWD/$build" ${NEMOTRON4J_JAVA_OPTS:-} -jar "$jar" "$@"
}

nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv || true
for w in $weights; do
  model="$dir/$w"
  if [ ! -f "$model/config.json" ]; then
    echo "== create-model $w -> $model"
    flag=()
    [ "$w" = fp8 ] && flag=(--fp8)
    start=$SECONDS
    cli create-model --config "$config" --out "$model" --seed 1 "${flag[@]}"
    echo "   took $((SECONDS - start)) s; $(du -sh "$model" | cut -f1)"
  fi
  echo "== bench $w: $bench_args"
  # shellcheck disable=SC2086
  cli bench --model "$model" --device cuda:0 $bench_args
done

# The host CPU, when it has AVX512-BF16 (the CPU issue's reference machines do): the CPU benchmark model on 2 cores
# (pinned), F32 and BF16 activations (BF16 activations use the BF16 dot-product matmul). N4J_BENCH_CPU=0 skips it.
if [ "${N4J_BENCH_CPU:-1}" != 0 ] && grep -q -w avx512_bf16 /proc/cpuinfo 2>/dev/null; then
  cpu_config=.gpu/fixtures/configs/bench-medium.json
  [ -f "$cpu_config" ] || cpu_config=../shared/fixtures/configs/bench-medium.json
  cpu_model="$dir/bench-medium"
  [ -f "$cpu_model/config.json" ] || cli create-model --config "$cpu_config" --out "$cpu_model" --seed 1
  echo "== CPU bench on the host (2 cores pinned): $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  for act in f32 bf16; do
    echo "-- activations $act"
    taskset -c 0,1 "$java" --enable-native-access=ALL-UNNAMED -Dnemotron4j.library.dir="$PWD/$build" \
      -jar "$jar" bench --model "$cpu_model" --device cpu --threads 2 --activations "$act" -p 512 -n 128 -r 3 || true
  done
fi

if [ "${N4J_BENCH_KERNELS:-1}" != 0 ]; then
  echo "== JMH kernel report on cuda:0"
  if [ -d .gpu/lib/bench ]; then
    cp_bench="$jar:$(ls .gpu/lib/bench/*.jar | tr '\n' ':')"
  else
    cp_bench=java/bench/target/nemotron4j-benchmarks.jar
  fi
  NEMOTRON4J_LIBRARY_DIR="$PWD/$build" "$java" --enable-native-access=ALL-UNNAMED -cp "$cp_bench" \
    org.nemotron4j.bench.KernelReport --device cuda:0 --quick
fi
