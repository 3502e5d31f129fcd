#!/usr/bin/python3
"""One end-to-end case: generate a tiny model, run `mot run -m ... --dump`, and check the
dump against the float64 reference (tests/reference/compare_dump.py).

    run_case.py --mot BIN --models DIR --work DIR [--backend cpu|cuda] CASE
    run_case.py --list

--backend (default cpu) is passed to mot and sets the bound (tests/reference/backend_bounds.py,
SPEC 1.7); with cuda on a machine without a CUDA device the case exits 77 (ctest: skipped).
"""
import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
MAKE_MODEL = os.path.join(TESTS, "tools", "make_model.py")
sys.path.insert(0, os.path.join(TESTS, "reference"))
import backend_bounds  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

GREEDY = ["--temp", "0"]
PROMPT = "The quick brown fox jumps over the lazy dog, then naps."

# name -> make_model flags, prompt, extra `mot run` flags. Greedy unless the flags say otherwise.
CASES = {
    "gqa_f32": dict(model=["--preset", "tiny-gqa", "--dtype", "f32", "--untied",
                           "--tokenizer", "byte-level"], prompt=PROMPT),
    "sp_f16_tied": dict(model=["--preset", "tiny", "--dtype", "f16", "--tied",
                               "--tokenizer", "sentencepiece"], prompt=PROMPT),
    "bf16_sharded": dict(model=["--preset", "tiny", "--dtype", "bf16", "--shards", "3"],
                         prompt=PROMPT),
    "rope_llama3": dict(model=["--preset", "tiny", "--rope-scaling", "llama3"],
                        prompt=PROMPT + " " + PROMPT),
    "rope_linear": dict(model=["--preset", "tiny", "--rope-scaling", "linear"],
                        prompt=PROMPT + " " + PROMPT),
    # the prompt alone is longer than the window, and decoding runs far past it
    "mistral_window": dict(model=["--preset", "tiny-mistral", "--sliding-window", "6"],
                           prompt="Sliding windows forget: " + PROMPT, run=["-c", "96"]),
    "mha_head_dim": dict(model=["--preset", "tiny", "--heads", "4", "--kv-heads", "4",
                                "--head-dim", "24"], prompt=PROMPT),
    "cjk_emoji": dict(model=["--preset", "tiny", "--tokenizer", "byte-level"],
                      prompt="日本語のテキストと中文 😀🎉 café — naïve"),
    "cjk_emoji_sp": dict(model=["--preset", "tiny", "--tokenizer", "sentencepiece"],
                         prompt="日本語のテキストと中文 😀🎉 café — naïve"),
    "metaspace_tok": dict(model=["--preset", "tiny", "--tokenizer", "sentencepiece-metaspace"],
                          prompt="  Leading spaces,\ttabs\nand newlines: " + PROMPT),
    # sampled: logits checked, tokens within top-k, and two runs with one seed agree
    "sampling": dict(model=["--preset", "tiny-gqa"], prompt=PROMPT,
                     run=["--temp", "0.8", "--top-k", "20", "--top-p", "0.9", "--seed", "7"],
                     sampled=True, top_k=20),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mot", help="the mot executable")
    p.add_argument("--models", help="where test models are generated (reused between runs)")
    p.add_argument("--work", help="where dumps are written")
    p.add_argument("--threads", default="2")
    p.add_argument("--backend", choices=["cpu", "cuda"], default="cpu",
                   help="where mot runs (named, never `auto`); the bound follows (SPEC 1.7)")
    p.add_argument("--list", action="store_true")
    p.add_argument("case", nargs="?", choices=sorted(CASES))
    args = p.parse_args()
    if not args.list and not (args.mot and args.models and args.work and args.case):
        p.error("--mot, --models, --work and CASE are required")
    return args


def make_model(models_dir, name, flags):
    out = os.path.join(models_dir, name)
    subprocess.run([sys.executable, MAKE_MODEL, out, *flags], check=True)
    return out


def run_mot(args, model_dir, case, dump):
    cmd = [args.mot, "run", "-m", model_dir, "-p", case["prompt"], "-n", "12",
           "-t", args.threads, "--dump", dump, "--backend", args.backend]
    cmd += case.get("run", []) if case.get("sampled") else GREEDY + case.get("run", [])
    print("+ " + " ".join(repr(c) if " " in c else c for c in cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=120)
    print(f"mot stdout: {r.stdout!r}\nmot stderr: {r.stderr.strip()}")
    if r.returncode != 0 and args.backend == "cuda" and backend_bounds.no_device(r.stderr):
        print("skipped: " + r.stderr.strip().splitlines()[-1])
        raise SystemExit(backend_bounds.SKIP)
    if r.returncode != 0:
        raise SystemExit(f"FAIL: mot exited with {r.returncode}")
    if not os.path.exists(dump):
        raise SystemExit(f"FAIL: mot wrote no dump at {dump}")


def sampled_tokens(dump, name):
    return read_safetensors(dump)[f"tokens.{name}"].tolist()


def main():
    args = parse_args()
    if args.list:
        print("\n".join(sorted(CASES)))
        return 0
    backend_bounds.skip_without_cuda(args.backend)
    case = CASES[args.case]
    model_dir = make_model(args.models, args.case, case["model"])
    os.makedirs(args.work, exist_ok=True)
    dump = os.path.join(args.work, args.case + ("" if args.backend == "cpu" else "." + args.backend) + ".safetensors")
    if os.path.exists(dump):
        os.remove(dump)
    run_mot(args, model_dir, case, dump)

    import compare_dump  # torch: only once there is something to compare
    tol = backend_bounds.tolerance(args.backend, [backend_bounds.dtype_of(case["model"])])
    flags = ["--model", model_dir, "--dump", dump, "--prompt", case["prompt"], "--tol", str(tol)]
    flags += ["--top-k", str(case["top_k"])] if case.get("sampled") else ["--greedy"]
    status = compare_dump.main(flags)
    if status != 0:
        return status

    if case.get("sampled"):
        again = os.path.join(args.work, f"{args.case}.{args.backend}.again.safetensors")
        run_mot(args, model_dir, case, again)
        first, second = sampled_tokens(dump, args.case), sampled_tokens(again, args.case)
        if first != second:
            print(f"FAIL: same seed, different tokens:\n  {first}\n  {second}")
            return 1
        print(f"same seed, same {len(first)} tokens")
        greedy_row = np.argmax(read_safetensors(dump)[f"logits.{args.case}"], axis=1)
        print(f"sampled differs from arg-max at "
              f"{int((greedy_row != np.array(first[-len(greedy_row):])).sum())} of "
              f"{len(greedy_row)} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
