#!/usr/bin/env python3
"""`mot run --repeat-penalty / --repeat-last-n / --presence-penalty / --frequency-penalty`
(llama.cpp's flags) end to end, against the dump.

The dump holds each step's raw logits and the tokens (SPEC 2.3). For a greedy run every sampled
token must be the arg-max of that step's logits after the penalties, recomputed here in numpy
(float32, llama.cpp's rule) over the last N tokens seen: the prompt's, then each one sampled.
- a tiny model, `-m`: the penalized run differs from plain greedy, and every step checks;
- `--repeat-last-n -1` (every token seen) and a window that slides (8);
- a MoT pipeline: every active expert's lane, each over its own prompt and tokens;
- bad values: one error line, non-zero exit.
With --backend cuda (ctest cli_penalties_cuda, label gpu; skipped without a device) the runs
are on the CUDA backend (its sampler penalizes a copy of the logits with the window the engine
hands over before each pass).

usage: test_penalties.py MOT WORK_DIR [--backend cpu|cuda]"""
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import backend_bounds  # noqa: E402
import cli_case  # noqa: E402
import make_mot_pool  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

MOT, WORK, BACKEND = cli_case.args()
failures = []


def check(label, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {label}{': ' + detail if detail else ''}")
    if not ok:
        failures.append(f"{label}: {detail}")


def run(args):
    return subprocess.run([MOT] + args, capture_output=True, text=True, errors="replace", timeout=120)


def penalize(x, window, repeat, presence, frequency):
    """llama.cpp's penalties on one logits row (float32), for the tokens in window."""
    x = x.astype(np.float32).copy()
    r, pres, freq = np.float32(repeat), np.float32(presence), np.float32(frequency)
    for t in set(window):
        c = np.float32(window.count(t))
        v = x[t] * r if x[t] <= 0 else x[t] / r
        x[t] = np.float32(np.float32(v - c * freq) - pres)
    return x


def check_lanes(label, dump, last_n, repeat, presence, frequency):
    """Every lane of a greedy dump: each sampled token is the arg-max of its penalized logits
    (a top-2 margin under 1e-5 accepts either). Returns the sampled tokens per lane."""
    t = read_safetensors(dump)
    out = {}
    for key in sorted(k for k in t if k.startswith("logits.")):
        name = key[len("logits."):]
        logits, tokens = t[key], [int(v) for v in t[f"tokens.{name}"]]
        n = logits.shape[0]
        prompt, sampled = tokens[:len(tokens) - n], tokens[len(tokens) - n:]
        bad = []
        for s in range(n):
            seen = prompt + sampled[:s]
            window = seen if last_n < 0 else seen[-last_n:] if last_n > 0 else []
            x = penalize(logits[s], window, repeat, presence, frequency)
            best = int(np.argmax(x))
            top2 = np.sort(x)[-2:] if x.size > 1 else x
            if sampled[s] != best and not (x[sampled[s]] >= top2[-1] - 1e-5 * max(1.0, abs(float(top2[-1])))):
                bad.append(f"step {s}: drew {sampled[s]}, penalized arg-max {best}")
        check(f"{label}: {name}: {n} steps, each the penalized arg-max", not bad, "; ".join(bad[:3]))
        out[name] = sampled
    return out


def greedy(model, dump, *extra):
    p = run(["run", "-m", model, "-p", "hello world hello world", "--temp", "0", "-t", "1", "--backend", BACKEND,
             "-n", "24", "--ignore-eos", "--dump", dump, *extra])
    check(f"run {' '.join(extra) or '(no penalties)'}", p.returncode == 0, p.stderr.strip()[-300:])
    return p.returncode == 0


def main():
    backend_bounds.skip_without_cuda(BACKEND)
    os.makedirs(WORK, exist_ok=True)
    model = os.path.join(WORK, "tiny")
    shutil.rmtree(model, ignore_errors=True)
    subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "make_model.py"), model,
                    "--preset", "tiny", "--layers", "2", "--seed", "11"], check=True, stdout=subprocess.DEVNULL)
    plain = os.path.join(WORK, "plain.safetensors")
    if not greedy(model, plain):
        sys.exit(1)
    free = check_lanes("no penalties", plain, 0, 1.0, 0.0, 0.0)
    cases = [("repeat 1.5, last 8", 8, 1.5, 0.0, 0.0),
             ("all three, last 8", 8, 1.3, 0.4, 0.25),
             ("presence, every token (-1)", -1, 1.0, 1.0, 0.0),
             ("frequency, last 64 (default)", 64, 1.0, 0.0, 0.6)]
    for label, last_n, rep, pres, freq in cases:
        dump = os.path.join(WORK, f"pen{len(label)}.safetensors")
        extra = ["--repeat-penalty", str(rep), "--presence-penalty", str(pres), "--frequency-penalty", str(freq)]
        if last_n != 64:
            extra += ["--repeat-last-n", str(last_n)]
        if not greedy(model, dump, *extra):
            continue
        got = check_lanes(label, dump, last_n, rep, pres, freq)
        check(f"{label}: the penalties change the greedy tokens", got != free, f"{got}")

    pipe = make_mot_pool.build(os.path.join(WORK, "pool"), "demo")
    dump = os.path.join(WORK, "pipe.safetensors")
    p = run(["run", pipe, "-p", "hello hello hello", "-n", "10", "-t", "1", "--temp", "0", "--ignore-eos",
             "--backend", BACKEND,
             "--repeat-penalty", "1.8", "--repeat-last-n", "6", "--frequency-penalty", "0.3", "--dump", dump])
    check("pipeline with penalties", p.returncode == 0, p.stderr.strip()[-300:])
    if p.returncode == 0:
        lanes = check_lanes("pipeline", dump, 6, 1.8, 0.0, 0.3)
        check("pipeline: every active expert checked", len(lanes) >= 2, f"{list(lanes)}")

    for label, args, words in [
            ("--repeat-penalty 0", ["--repeat-penalty", "0"], ["--repeat-penalty"]),
            ("--repeat-penalty not a number", ["--repeat-penalty", "much"], ["--repeat-penalty", "much"]),
            ("--repeat-last-n -2", ["--repeat-last-n", "-2"], ["--repeat-last-n"]),
            ("--frequency-penalty inf", ["--frequency-penalty", "inf"], ["--frequency-penalty"])]:
        p = run(["run", "-m", model, "-p", "hi", "-n", "2", "--seed", "1", *args])
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        check(f"{label} is refused in one line", p.returncode != 0 and len(lines) == 1 and
              lines[0].startswith("error:") and all(w in lines[0] for w in words),
              f"exit {p.returncode}, {p.stderr.strip()!r}")

    if failures:
        print(f"{len(failures)} failed:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("penalties: every greedy step is the penalized arg-max, bad values refused")


main()
