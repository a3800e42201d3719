#!/usr/bin/env python3
"""One table of both engines from compare.sh's runs: for each test (pp512, tg128, ...) and each weight type, the
llama.cpp run(s) of that type next to nemotron4j's, with the ratio of their mean tokens/s (nemotron4j / llama.cpp).

usage: side_by_side.py RUNS SIZES
  RUNS   lines "TYPE ENGINE LABEL TABLE.md MODEL" (ENGINE llama.cpp or nemotron4j; TABLE.md as the tool printed it)
  SIZES  lines "TYPE ENGINE LABEL BYTES" (bytes of tensors on disk)
"""
import re
import sys

NUM = re.compile(r"^\s*([0-9.]+)\s*±\s*([0-9.]+)\s*$")


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def read_table(path, engine):
    """{test: (mean, stddev)} from a llama-bench markdown table or nemotron4j bench's (batch 1 rows)."""
    out = {}
    header = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.lstrip().startswith("|"):
                header = None if not line.strip() else header
                continue
            c = cells(line)
            if "test" in c:
                header = c
                continue
            if header is None or set("".join(c)) <= set("-: "):
                continue
            row = dict(zip(header, c))
            if engine == "nemotron4j" and row.get("batch", "1") != "1":
                continue
            rate = row.get("t/s") or row.get("t/s (aggregate)")
            m = NUM.match(rate or "")
            if not m:
                raise SystemExit(f"{path}: cannot read tokens/s from row {line.strip()!r}")
            out[row["test"]] = (float(m.group(1)), float(m.group(2)))
    if not out:
        raise SystemExit(f"{path}: no benchmark rows found")
    return out


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    runs = []
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            if line.strip():
                t, engine, label, md, _model = line.split()
                runs.append((t, engine, label, read_table(md, engine)))
    sizes = {}
    with open(sys.argv[2], encoding="utf-8") as f:
        for line in f:
            if line.strip():
                t, engine, label, n = line.split()
                sizes[(t, engine, label)] = int(n)
    tests = []
    for *_, table in runs:
        for test in table:
            if test not in tests:
                tests.append(test)
    ours = {t: (label, table) for t, engine, label, table in runs if engine == "nemotron4j"}
    print("| test | llama.cpp | size (MiB) | t/s | nemotron4j | size (MiB) | t/s | ratio |")
    print("|---|---|---:|---:|---|---:|---:|---:|")
    for test in tests:
        for t, engine, label, table in runs:
            if engine != "llama.cpp" or test not in table:
                continue
            n_label, n_table = ours.get(t, (None, {}))
            if test not in n_table:
                continue
            lm, ls = table[test]
            nm, ns = n_table[test]
            lsz = sizes.get((t, "llama.cpp", label), 0) / 2**20
            nsz = sizes.get((t, "nemotron4j", n_label), 0) / 2**20
            print(f"| {test} | {label} | {lsz:.0f} | {lm:.2f} ± {ls:.2f} | {n_label} | {nsz:.0f} | {nm:.2f} ± {ns:.2f} "
                  f"| {nm / lm:.2f} |")


if __name__ == "__main__":
    main()
