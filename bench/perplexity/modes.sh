#!/usr/bin/env bash
# Perplexity and KL-divergence of every precision mode the CPU engine has, against exact (f32), on one text.
#   bash bench/perplexity/modes.sh [MODEL_DIR] [TEXT]      (defaults: the demo model and its held-out text)
# Writes the saved distributions and each run's output under build/perplexity/ and prints a summary table.
# FP8 rows use an FP8 copy of the model made by tools/demo-model/to_fp8.py (needs python3-torch).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
model="${1:-$root/models/nemotron-h-demo}"
text="${2:-$model/heldout.txt}"
ctx="${CTX:-512}"
out="$root/build/perplexity"
mkdir -p "$out"
n4j() { "$root/nemotron4j" perplexity --file "$text" --ctx "$ctx" "$@"; }

n4j --model "$model" --precision exact --save-logits "$out/exact.logits" | tee "$out/exact.txt"
fp8="$out/$(basename "$model")-fp8"
if [ ! -f "$fp8/model.safetensors" ] || [ "$fp8/model.safetensors" -ot "$model/model.safetensors" ]; then
  /usr/bin/python3 "$root/tools/demo-model/to_fp8.py" --model "$model" --out "$fp8"
fi
runs=(
  "fast|--model $model --precision fast"
  "exact, kv bf16|--model $model --precision exact --kv bf16"
  "exact, matmul bf16|--model $model --precision exact --matmul bf16"
  "bf16 activations|--model $model --precision exact --activations bf16 --kv bf16"
  "fp8 weights, exact|--model $fp8 --precision exact"
  "fp8 weights, fast|--model $fp8 --precision fast"
)
i=0
for r in "${runs[@]}"; do
  i=$((i + 1))
  # shellcheck disable=SC2086
  n4j ${r#*|} --kl-base "$out/exact.logits" | tee "$out/run$i.txt"
done

echo
echo "| mode | PPL | ln(PPL/PPL(exact)) | mean KLD | median KLD | 99% KLD | same top-1 |"
echo "|---|---|---|---|---|---|---|"
ppl() { sed -n 's/^Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/\1 ± \2/p' "$1"; }
echo "| exact (f32) | $(ppl "$out/exact.txt") | 0 | 0 | 0 | 0 | 100 % |"
i=0
for r in "${runs[@]}"; do
  i=$((i + 1))
  f="$out/run$i.txt"
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${r%%|*}" "$(ppl "$f")" \
    "$(sed -n 's/^ *ln(PPL\/PPL(base)): *//p' "$f")" "$(sed -n 's/^ *mean KLD: *//p' "$f" | sed 's/+\/-/±/')" \
    "$(sed -n 's/^ *median KLD: *//p' "$f")" "$(sed -n 's/^ *99.0% KLD: *//p' "$f")" \
    "$(sed -n 's/^ *same top-1: *//p' "$f" | sed 's/+\/-/±/')"
done
