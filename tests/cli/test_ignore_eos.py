#!/usr/bin/env python3
"""`mot run --ignore-eos` (llama.cpp's flag): EOS does not stop generation.

A tiny model whose greedy first token is made its EOS (config.json's eos_token_id set to it):
- without the flag, generation stops at that first token (one sampled token in the dump);
- with `--ignore-eos -n 6`, six tokens, the same ones greedy gives when that token is not EOS;
- a MoT pipeline with `--ignore-eos -n 5`: the primary and every other active expert sample
  five tokens each (no lane dies at its EOS);
- `--ignore-eos` with `--conversation`: one error line, exit 2.

usage: test_ignore_eos.py MOT WORK_DIR"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import make_mot_pool  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

MOT, WORK = sys.argv[1], sys.argv[2]
failures = []


def check(label, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {label}{': ' + detail if detail else ''}")
    if not ok:
        failures.append(f"{label}: {detail}")


def run(args):
    return subprocess.run([MOT] + args, capture_output=True, text=True, errors="replace", timeout=120)


def sampled(model, dump, *extra):
    """The tokens a greedy -m run sampled (from its dump), or None when it failed."""
    p = run(["run", "-m", model, "-p", "hello world", "--temp", "0", "-t", "1", "--backend", "cpu",
             "--dump", dump, *extra])
    if p.returncode != 0:
        check(f"run {' '.join(extra)}", False, p.stderr.strip())
        return None
    t = read_safetensors(dump)
    name = os.path.basename(model)
    n = t[f"logits.{name}"].shape[0]  # one logits row a sampled token
    return [int(x) for x in t[f"tokens.{name}"][-n:]]


def main():
    os.makedirs(WORK, exist_ok=True)
    model = os.path.join(WORK, "tiny")
    shutil.rmtree(model, ignore_errors=True)  # a former run's copy has its EOS changed
    subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "make_model.py"), model,
                    "--preset", "tiny", "--layers", "2", "--seed", "5"], check=True, stdout=subprocess.DEVNULL)
    free = sampled(model, os.path.join(WORK, "free.safetensors"), "-n", "6")
    if free is None:
        sys.exit(1)
    # the first greedy token becomes EOS (generation_config.json, if any, must agree)
    for fname in ("config.json", "generation_config.json"):
        path = os.path.join(model, fname)
        if os.path.exists(path):
            cfg = json.load(open(path))
            cfg["eos_token_id"] = free[0]
            json.dump(cfg, open(path, "w"))
    stopped = sampled(model, os.path.join(WORK, "stopped.safetensors"), "-n", "6")
    check("EOS stops generation without the flag", stopped == free[:1], f"sampled {stopped}, EOS {free[0]}")
    ignored = sampled(model, os.path.join(WORK, "ignored.safetensors"), "-n", "6", "--ignore-eos")
    check("--ignore-eos goes on to -n, the same tokens", ignored == free,
          f"sampled {ignored}, without the EOS {free}")

    pipe = make_mot_pool.build(os.path.join(WORK, "pool"), "demo")
    dump = os.path.join(WORK, "pipe.safetensors")
    p = run(["run", pipe, "-p", "hello", "-n", "5", "-t", "1", "--ignore-eos", "--dump", dump])
    if p.returncode != 0:
        check("pipeline --ignore-eos", False, p.stderr.strip())
    else:
        t = read_safetensors(dump)
        counts = {k[len("logits."):]: v.shape[0] for k, v in t.items() if k.startswith("logits.")}
        check("pipeline --ignore-eos: every active expert samples -n tokens",
              len(counts) >= 2 and all(c == 5 for c in counts.values()), f"{counts}")

    p = run(["run", "-m", model, "--conversation", "--ignore-eos"])
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check("--ignore-eos with --conversation is refused", p.returncode == 2 and len(lines) == 1 and
          "--ignore-eos" in lines[0] and "conversation" in lines[0], f"exit {p.returncode}, {p.stderr.strip()!r}")

    if failures:
        print(f"{len(failures)} failed:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("--ignore-eos: EOS ignored where asked, refused where it has no meaning")


main()
