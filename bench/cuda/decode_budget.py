#!/usr/bin/env python3
"""Counted floor of one decode step of a Nemotron-H checkpoint on a GPU: the bytes each op must move at batch B
(weights once per step, recurrent states read and written, the KV cache read), and the time they take at a memory
bandwidth. Decode at small batches is memory-bound, so the sum is the floor a real step is measured against.

    bench/cuda/decode_budget.py CONFIG.json [--context 8192] [--batch 1] [--weights bf16|fp8] [--bandwidth 3.35e12]

--weights fp8: ModelOpt FP8 checkpoints (Mamba in/out_proj and MLP up/down in e4m3, the rest bf16).
--bandwidth: bytes/s; the default is an H100 SXM's HBM3 peak (3.35 TB/s). The script computes, it measures nothing.
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--context", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--weights", choices=["bf16", "fp8"], default="bf16")
    ap.add_argument("--bandwidth", type=float, default=3.35e12)
    a = ap.parse_args()
    c = json.load(open(a.config))
    h, v = c["hidden_size"], c["vocab_size"]
    heads, hd, state, groups = c["mamba_num_heads"], c["mamba_head_dim"], c["ssm_state_size"], c["n_groups"]
    d_inner = heads * hd
    conv_ch = d_inner + 2 * groups * state
    in_proj = 2 * d_inner + 2 * groups * state + heads
    q, kv = c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
    inter = c["intermediate_size"]
    pattern = c["hybrid_override_pattern"]
    big = 1 if a.weights == "fp8" else 2  # bytes per element of the FP8-capable projections
    B, L = a.batch, a.context
    rows = []  # (op, layers, bytes per step)
    n_m, n_a, n_f = pattern.count("M"), pattern.count("*"), pattern.count("-")
    # Mamba: norm, in_proj, conv (weights + state read/write, bf16), the recurrent step (f32 state read and
    # written), gated norm, out_proj
    rows.append(("mamba in_proj + out_proj (weights)", n_m, (h * in_proj + d_inner * h) * big))
    rows.append(("mamba conv1d (weights, bf16 conv state r/w)", n_m, conv_ch * c["conv_kernel"] * 2
                 + B * 2 * conv_ch * (c["conv_kernel"] - 1) * 2))
    rows.append(("mamba SSM state (f32, read + written)", n_m, B * 2 * heads * hd * state * 4))
    rows.append(("mamba norms, dt_bias, A, D", n_m, (2 * h + 2 * d_inner + 3 * heads) * 2))
    rows.append(("attention q/k/v/o (weights)", n_a, (h * (q + 2 * kv) + q * h) * 2 + h * 2))
    rows.append((f"attention KV cache read at {L} tokens (bf16)", n_a, B * 2 * L * kv * 2))
    rows.append(("MLP up + down (weights)", n_f, (h * inter + inter * h) * big + h * 2))
    rows.append(("final norm + lm_head", 1, h * 2 + v * h * 2))
    total = 0
    print(f"decode step floor: {a.config}, batch {B}, context {L}, {a.weights} weights, "
          f"{a.bandwidth / 1e12:.2f} TB/s")
    print(f"| op | layers | MB per step | us at {a.bandwidth / 1e12:.2f} TB/s | share |")
    print("|---|---:|---:|---:|---:|")
    per = [(op, n, n * b) for op, n, b in rows]
    total = sum(x[2] for x in per)
    for op, n, b in per:
        print(f"| {op} | {n} | {b / 1e6:,.1f} | {b / a.bandwidth * 1e6:,.1f} | {100 * b / total:.1f}% |")
    t = total / a.bandwidth
    print(f"| **total** | {len(pattern)} | {total / 1e6:,.1f} | {t * 1e6:,.1f} | |")
    print(f"floor: {t * 1e3:.2f} ms per step = {B / t:,.0f} tokens/s at batch {B} "
          f"({1 / t:,.0f} steps/s)")


if __name__ == "__main__":
    main()
