#!/usr/bin/env python3
"""A quantized model stays quantized in memory: `mot run` on the real SmolLM2-135M-Instruct
Q4_1 file (tokenizer, weights, a 512-token KV cache, 16 generated tokens) peaks within
1.10 x (file size + KV bytes). Would fail if the weights were widened at load (f32: 4x the
file), or if anything large stayed resident beside them. Skipped (77) without the file.

usage: test_gguf_rss.py MOT MODEL.gguf"""
import os
import resource
import subprocess
import sys

CTX = 512


def main():
    mot, model = sys.argv[1:3]
    if not os.path.exists(model):
        print(f"SKIP: {model} is absent (scripts/fetch-models.sh fetches it)")
        sys.exit(77)
    r = subprocess.run([mot, "run", "--backend", "cpu", "-m", model, "--chat", "-p", "What is the capital of France?", "-n", "16",
                        "--temp", "0", "-t", "2", "-c", str(CTX)], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL mot run: {r.stderr.strip()}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    layers, kv_dim = 30, 3 * 64                      # SmolLM2-135M: 30 layers, 3 KV heads of 64
    kv = 2 * layers * CTX * kv_dim * 4               # f32 keys and values
    size = os.path.getsize(model)
    bound = 1.10 * (size + kv)
    ok = 0 < peak <= bound
    print(f"{'ok  ' if ok else 'FAIL'} peak RSS {peak / 2**20:.1f} MiB, bound {bound / 2**20:.1f} MiB "
          f"(file {size / 2**20:.1f} + KV {kv / 2**20:.1f}, +10%); output {r.stdout.strip()!r}")
    sys.exit(0 if ok else 1)


main()
