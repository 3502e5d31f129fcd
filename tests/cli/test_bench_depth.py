#!/usr/bin/env python3
"""`mot bench -m DIR -d D`: llama-bench's depth. Each run fills the cache with D tokens first
(untimed), so the rows are "ppN @ dD" and "tgN @ dD", the JSON says n_depth, the KV cache is
sized for D + max(N prompt, N gen) + 1 positions, and the decode row's bandwidth fraction counts
the cached keys and values it reads. Bad uses fail with one error line: a depth past the model's
context, a depth with a pipeline file.

usage: test_bench_depth.py MOT MAKE_MODEL.py WORK_DIR"""
import json
import os
import subprocess
import sys

MOT, MAKE_MODEL, WORK = sys.argv[1:4]
failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def bench(model, *args):
    return subprocess.run([MOT, "bench", "-m", model, "-r", "2", "-t", "2", "-o", "json", "--backend", "cpu", *args],
                          capture_output=True, text=True, timeout=120)


def main():
    model = os.path.join(WORK, "tiny")
    subprocess.run([sys.executable, MAKE_MODEL, model, "--preset", "tiny", "--layers", "2", "--seed", "5"],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(model, "config.json")) as fh:
        cfg = json.load(fh)
    head_dim = cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    kv_per_pos = 2 * cfg["num_hidden_layers"] * cfg["num_key_value_heads"] * head_dim * 4

    r = bench(model, "-p", "8", "-n", "6", "-d", "40")
    check(r.returncode == 0, f"bench -d 40 runs ({r.stderr.strip()})")
    if r.returncode == 0:
        rows = json.loads(r.stdout)
        check([row["test"] for row in rows] == ["pp8 @ d40", "tg6 @ d40"], f"test names {[x['test'] for x in rows]}")
        check(all(row["n_depth"] == 40 for row in rows), "n_depth 40 in every row")
        check(all(row["avg_ts"] > 0 and len(row["samples_ts"]) == 2 for row in rows), "two timed runs each")
        check(rows[0]["kv_bytes"] == (40 + 8 + 1) * kv_per_pos,
              f"KV cache for 49 positions: {rows[0]['kv_bytes']} bytes, want {(40 + 8 + 1) * kv_per_pos}")
        # the fraction counts the weights plus the KV bytes of the mean step (40 + 3 keys)
        tg = rows[1]
        want = tg["avg_ts"] * (tg["read_bytes"] + (40 + 3) * kv_per_pos) / (tg["read_bw_gbs"] * 1e9)
        check(abs(tg["bw_fraction"] - want) <= 1e-3 * want + 1e-4,
              f"tg bandwidth fraction {tg['bw_fraction']:.4f} counts the cache read (want {want:.4f})")

    r = bench(model, "-p", "8", "-n", "6")
    check(r.returncode == 0 and [x["test"] for x in json.loads(r.stdout)] == ["pp8", "tg6"]
          and all(x["n_depth"] == 0 for x in json.loads(r.stdout)), "no depth: pp8, tg6, n_depth 0")

    ctx = cfg["max_position_embeddings"]
    r = bench(model, "-p", "8", "-n", "6", "-d", str(ctx - 7))
    lines = r.stderr.strip().splitlines()
    check(r.returncode != 0 and len(lines) == 1 and f"context of {ctx}" in lines[0] and "tiny" in lines[0],
          f"depth past the context: {r.stderr.strip()}")
    r = bench(model, "-p", "8", "-n", "6", "-d", str(ctx - 8))
    check(r.returncode == 0, f"depth that just fits the context ({r.stderr.strip()})")

    r = subprocess.run([MOT, "bench", os.path.join(WORK, "none.yaml"), "-d", "4"], capture_output=True, text=True)
    check(r.returncode != 0 and "-d (depth) is for -m MODEL_DIR" in r.stderr, f"depth with a pipeline: {r.stderr.strip()}")
    if failures:
        sys.exit(1)


main()
