#!/usr/bin/env python3
"""Compare per-position logits of llama.cpp (a .npy from llama_greedy) with nemotron4j's (`nemotron4j logits`
safetensors, tensor "logits" [tokens, vocab]) over the same token sequence.

  compare_logits.py LLAMA.npy NEMOTRON4J.safetensors [--label TEXT] [--prompt-len P]

Per row: argmax of each engine, max |difference| / max |logit| (nemotron4j's row), the top-5 overlap and the
nemotron4j margin between its top-1 and top-2 (a small margin explains a legitimate argmax flip). Summary: rows
with the same argmax, worst and median relative difference, over all rows and over the prefill / decode parts.
Only numpy is needed.
"""
from __future__ import annotations

import argparse
import json
import struct
import sys

import numpy as np


def read_n4j(path: str) -> np.ndarray:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        info = header["logits"]
        if info["dtype"] != "F32":
            sys.exit(f"{path}: logits dtype {info['dtype']}, expected F32")
        b, e = info["data_offsets"]
        f.seek(8 + n + b)
        return np.frombuffer(f.read(e - b), dtype=np.float32).reshape(info["shape"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("llama")
    ap.add_argument("n4j")
    ap.add_argument("--label", default="")
    ap.add_argument("--prompt-len", type=int, default=0, help="rows before this are prefill, the rest decode steps")
    ap.add_argument("--quiet", action="store_true", help="summary only")
    args = ap.parse_args()
    a = np.load(args.llama).astype(np.float64)
    b = read_n4j(args.n4j).astype(np.float64)
    if a.shape != b.shape:
        sys.exit(f"shape mismatch: llama.cpp {a.shape}, nemotron4j {b.shape}")
    rel = np.abs(a - b).max(axis=1) / np.abs(b).max(axis=1)
    am, bm = a.argmax(axis=1), b.argmax(axis=1)
    srt = np.sort(b, axis=1)
    margin = (srt[:, -1] - srt[:, -2]) / np.abs(b).max(axis=1)
    top5 = [len(set(np.argsort(-a[i])[:5]) & set(np.argsort(-b[i])[:5])) for i in range(len(a))]
    if args.label:
        print(f"== {args.label}")
    if not args.quiet:
        print(" row  kind     argmax llama.cpp / nemotron4j   max|diff|/max|logit|  top5 overlap  n4j top1-top2 margin")
        for i in range(len(a)):
            kind = "prefill" if i < args.prompt_len else "decode"
            flag = "" if am[i] == bm[i] else "   <-- differs"
            print(f"{i:4d}  {kind:7s}  {am[i]:8d} / {bm[i]:<8d}            {rel[i]:.2e}            {top5[i]}/5       "
                  f"{margin[i]:.2e}{flag}")
    def summary(sel, what):
        if sel.sum() == 0:
            return
        print(f"{what}: {int((am[sel] == bm[sel]).sum())}/{int(sel.sum())} rows same argmax, "
              f"max|diff|/max|logit|: worst {rel[sel].max():.2e}, median {np.median(rel[sel]):.2e}, "
              f"top-5 overlap mean {np.mean(np.array(top5)[sel]):.2f}/5")
    rows = np.arange(len(a))
    summary(rows >= 0, "all rows")
    if 0 < args.prompt_len < len(a):
        summary(rows < args.prompt_len, "prefill rows")
        summary(rows >= args.prompt_len, "decode rows")


if __name__ == "__main__":
    main()
