#!/usr/bin/python3
"""Writes an FP8 copy of a bf16 Nemotron-H checkpoint in NVIDIA ModelOpt's form, as NVIDIA's FP8 checkpoints are.

    /usr/bin/python3 tools/demo-model/to_fp8.py --model models/nemotron-h-demo --out /tmp/nemotron-h-demo-fp8

Mamba in_proj/out_proj and MLP up_proj/down_proj become F8_E4M3 with a per-tensor `weight_scale` (amax / 448,
values rounded to nearest-even and saturated) and a per-tensor `input_scale` calibrated on text (the largest input
magnitude seen over the calibration tokens / 448); attention projections, conv1d, norms, embeddings and lm_head stay
bf16, and config.json gets `quantization_config` (quant_method modelopt, quant_algo FP8, exclude_modules).
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
from nemotron_h import NemotronH  # noqa: E402
from train import write_safetensors  # noqa: E402

EXCLUDE = ["lm_head", "*q_proj*", "*k_proj*", "*v_proj*", "*o_proj*", "*conv1d*"]
QUANTIZED = ("in_proj", "out_proj", "up_proj", "down_proj")
E4M3_MAX = 448.0


def e4m3_table():
    """Values of the non-negative E4M3 (fn) codes 0..126 (0x7F is NaN), increasing with the code."""
    vals = []
    for c in range(127):
        e, m = c >> 3, c & 7
        vals.append(m / 8 * 2.0 ** -6 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7))
    return np.array(vals, dtype=np.float64)


TABLE = e4m3_table()


def encode_e4m3(x):
    """float array -> uint8 E4M3 codes: nearest value (ties to the even code), saturated at 448."""
    a = np.minimum(np.abs(x.astype(np.float64)), E4M3_MAX)
    hi = np.clip(np.searchsorted(TABLE, a, side="left"), 0, len(TABLE) - 1)
    lo = np.maximum(hi - 1, 0)
    d_lo = a - TABLE[lo]
    d_hi = TABLE[hi] - a
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0))
    code = np.where(pick_hi, hi, lo).astype(np.uint8)
    return code | (np.signbit(x).astype(np.uint8) << 7)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = np.frombuffer(data[a:b], dtype=np.uint16 if info["dtype"] == "BF16" else np.float32)
        t = torch.from_numpy(raw.astype(np.int32) << 16).view(torch.float32) if info["dtype"] == "BF16" \
            else torch.from_numpy(raw.copy())
        out[name] = t.reshape(info["shape"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--calibration-tokens", type=int, default=8192)
    args = ap.parse_args()
    torch.set_num_threads(2)
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    weights = read_safetensors(os.path.join(args.model, "model.safetensors"))
    model = NemotronH(cfg)
    model.load_state_dict(weights)
    model.eval()

    # calibrate input scales on the start of the held-out text (or any text next to the model)
    with open(os.path.join(args.model, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    tok = bpe.Bpe([t["content"] for t in tj["added_tokens"]],
                  sorted(tj["model"]["vocab"], key=tj["model"]["vocab"].get),
                  [tuple(m) for m in tj["model"]["merges"]])
    with open(os.path.join(args.model, "heldout.txt"), encoding="utf-8") as f:
        ids = tok.encode(f.read())[: args.calibration_tokens]
    amax = {}

    def hook(name):
        def record(_module, inputs, _output):
            amax[name] = max(amax.get(name, 0.0), inputs[0].abs().max().item())
        return record

    for name, module in model.named_modules():
        if name.endswith(QUANTIZED):
            module.register_forward_hook(hook(name))
    with torch.no_grad():
        for i in range(0, len(ids), 512):
            model(torch.tensor(ids[i:i + 512]).unsqueeze(0))

    os.makedirs(args.out, exist_ok=True)
    tensors = {}
    fp8_names = []
    for name, t in weights.items():
        module = name[: -len(".weight")] if name.endswith(".weight") else None
        if module is not None and module.endswith(QUANTIZED):
            scale = max(t.abs().max().item(), 1e-12) / E4M3_MAX
            codes = encode_e4m3((t / scale).numpy())
            tensors[name] = ("F8_E4M3", codes)
            tensors[module + ".weight_scale"] = torch.tensor(scale, dtype=torch.float32)
            tensors[module + ".input_scale"] = torch.tensor(max(amax[module], 1e-12) / E4M3_MAX, dtype=torch.float32)
            fp8_names.append(module)
        else:
            tensors[name] = t.to(torch.bfloat16)
    write_safetensors(os.path.join(args.out, "model.safetensors"), tensors)
    cfg["quantization_config"] = {"quant_method": "modelopt", "quant_algo": "FP8", "exclude_modules": EXCLUDE}
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(os.path.join(args.model, name), os.path.join(args.out, name))
    print(f"wrote {args.out}: {len(fp8_names)} FP8 projections, input scales calibrated on {len(ids)} tokens")


if __name__ == "__main__":
    main()
