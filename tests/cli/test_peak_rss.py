#!/usr/bin/env python3
"""Peak RSS of `mot bench -m` stays within weights + KV cache + 10% (issue 2's memory target),
on a SmolLM-135M-shaped bf16 model cut to 8 layers (108 MiB of weights, the real 49152-token
tokenizer). Catches anything resident on every run that is not the model: it failed at 162
MiB over the weights when cuBLAS was linked into mot instead of loaded on --backend cuda.

usage: test_peak_rss.py MOT MAKE_MODEL.py MODELS_DIR"""
import json
import os
import subprocess
import sys


def main():
    mot, make_model, models = sys.argv[1:4]
    model = os.path.join(models, "rss-smollm-8l-bf16")
    subprocess.run([sys.executable, make_model, model, "--preset", "smollm-135m", "--dtype", "bf16",
                    "--layers", "8"], check=True, stdout=subprocess.DEVNULL)
    r = subprocess.run([mot, "bench", "-m", model, "-p", "32", "-n", "16", "-r", "1", "-t", "2", "-o", "json", "--backend", "cpu"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL mot bench: {r.stderr.strip()}")
    rows = json.loads(r.stdout)
    failures = 0
    for row in rows:
        weights, kv, rss = row["model_size"], row["kv_bytes"], row["peak_rss"]
        bound = 1.10 * (weights + kv)
        ok = 0 < rss <= bound and weights > 100 << 20
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {row['test']}: peak RSS {rss / 2**20:.1f} MiB, "
              f"bound {bound / 2**20:.1f} MiB (weights {weights / 2**20:.1f} + KV {kv / 2**20:.1f}, +10%)")
    if failures or len(rows) != 2:
        sys.exit(1)


main()
