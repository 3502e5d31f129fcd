#!/usr/bin/python3
"""One GGUF end-to-end case: make a tiny HF model (make_model.py), convert it (make_gguf.py),
run `mot run -m FILE.gguf -p TEXT -n 16 --temp 0 --dump D`, and check the dump against the
float64 reference over the same file (tests/reference/gguf_ref.py compare): logits <= 1e-4 per
row, greedy tokens, up to the first step mot's token is not the reference's arg-max, prompt
tokens equal HF tokenizers' on the source folder. The mirror of tests/e2e/run_case.py.

    run_gguf_case.py --mot BIN --models DIR --work DIR [--backend cuda] CASE
    run_gguf_case.py --mot BIN --models DIR --work DIR --precision fast --tol BOUND CASE
    run_gguf_case.py --list

--backend (default cpu: named, never `auto`) is passed to mot and sets the bound
(tests/reference/backend_bounds.py, SPEC 1.7: quantized weights keep f32 activations on both
backends, <= 1e-4; F16/BF16 files on CUDA are held to the `fast` bounds); with `cuda` on a
machine without a CUDA device the case exits 77 (ctest: skipped).

--precision fast runs mot with int8 activations against the quantized weights (docs/schedules.md)
and holds it to that path's own bound (--tol, from tests/gguf/tests.cmake) instead of 1e-4:
logits per row, and greedy tokens up to the first step where mot's token is not the
reference's arg-max, which fails when the reference's margin there exceeds the bound.

Models and GGUF files are cached in --models: make_model.py keeps its own stamp; a GGUF is
rewritten when its flags, its folder's stamp or the GGUF tools change.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
TOOLS = os.path.join(TESTS, "tools")
sys.path.insert(0, os.path.join(TESTS, "reference"))
import backend_bounds  # noqa: E402

PROMPT = "The quick brown fox jumps over the lazy dog, then naps."
TINY = ["--preset", "tiny", "--untied", "--tokenizer", "byte-level"]
# K-quants need rows that are multiples of 256
K256 = ["--preset", "tiny", "--hidden", "256", "--ffn", "512", "--heads", "4", "--kv-heads", "2"]
SP = ["--tokenizer", "sentencepiece"]

# name -> make_model flags, make_gguf flags, extra mot flags
CASES = {
    "f32": (TINY, ["--type", "F32", "--chat-template", "chatml"], []),
    "f16": (TINY, ["--type", "F16"], []),
    "bf16": (TINY, ["--type", "BF16"], []),
    "q8_0": (TINY, ["--type", "Q8_0"], []),
    "q4_0": (TINY, ["--type", "Q4_0"], []),
    "q4_1": (TINY, ["--type", "Q4_1"], []),
    "q4_k": (K256 + ["--untied"], ["--type", "Q4_K"], []),
    "q5_k": (K256 + ["--untied"], ["--type", "Q5_K"], []),
    "q6_k": (K256 + ["--untied"], ["--type", "Q6_K"], []),
    "q5_0": (TINY, ["--type", "Q5_0"], []),
    "q5_1": (TINY, ["--type", "Q5_1"], []),
    "iq4_nl": (TINY, ["--type", "IQ4_NL"], []),
    "q2_k": (K256 + ["--untied"], ["--type", "Q2_K"], []),
    "q3_k": (K256 + ["--untied"], ["--type", "Q3_K"], []),
    "iq4_xs": (K256 + ["--untied"], ["--type", "IQ4_XS"], []),
    "q8_0_sp_tied": (["--preset", "tiny", "--tied"] + SP, ["--type", "Q8_0"], []),
    "q4_k_sp_tied": (K256 + ["--tied"] + SP, ["--type", "Q4_K"], []),
    "f16_metaspace": (["--preset", "tiny", "--tokenizer", "sentencepiece-metaspace"],
                      ["--type", "F16"], []),
    "mixed": (K256 + ["--untied"], ["--type", "Q4_K", "--mixed"], []),
    "mixed_sp_tied": (K256 + ["--tied"] + SP, ["--type", "Q5_K", "--mixed"], []),
    # Q3_K_M-like (Q3_K beside Q4_K, Q6_K, Q8_0, F16, Q4_1) and Q2_K-like (Q2_K beside Q3_K, Q4_K...)
    "mixed_q3_k": (K256 + ["--untied"], ["--type", "Q3_K", "--mixed"], []),
    "mixed_q2_k_sp_tied": (K256 + ["--tied"] + SP, ["--type", "Q2_K", "--mixed"], []),
    "q8_0_head_dim": (["--preset", "tiny", "--heads", "4", "--kv-heads", "4", "--head-dim", "24"],
                      ["--type", "Q8_0"], []),
    "f32_rope_llama3": (["--preset", "tiny", "--rope-scaling", "llama3"], ["--type", "F32"], []),
    "q8_0_rope_linear": (["--preset", "tiny", "--rope-scaling", "linear"], ["--type", "Q8_0"], []),
    "q8_0_mistral_window": (["--preset", "tiny-mistral", "--sliding-window", "6"],
                            ["--type", "Q8_0"], ["-c", "96"]),
}


def tools_digest():
    h = hashlib.sha1()
    for name in ("make_gguf.py", "gguf_quant.py", "gguf_vocab.py"):
        with open(os.path.join(TOOLS, name), "rb") as fh:
            h.update(fh.read())
    with open(os.path.join(TESTS, "reference", "gguf_layout.py"), "rb") as fh:
        h.update(fh.read())
    return h.hexdigest()[:16]


def make_files(models, case):
    model_flags, gguf_flags, _ = CASES[case]
    folder = os.path.join(models, "hf-" + case)
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_model.py"), folder, *model_flags],
                   check=True, stdout=subprocess.DEVNULL)
    path = os.path.join(models, case + ".gguf")
    with open(os.path.join(folder, ".make_model_stamp.json")) as fh:
        model_stamp = json.load(fh)
    stamp = {"flags": gguf_flags, "model": model_stamp, "tools": tools_digest()}
    stamp_path = path + ".stamp.json"
    try:
        with open(stamp_path) as fh:
            if json.load(fh) == stamp and os.path.exists(path):
                return folder, path
    except (OSError, ValueError):
        pass
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_gguf.py"), folder, path, *gguf_flags],
                   check=True)
    with open(stamp_path, "w") as fh:
        json.dump(stamp, fh)
    return folder, path


def run_mot(cmd, timeout=120):
    """Runs mot; prints its command, output and error, so a failure shows mot's own reason."""
    print("+ " + " ".join(repr(c) if (" " in c or not c) else c for c in cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
    print(f"mot stdout: {r.stdout!r}\nmot stderr: {r.stderr.strip()}")
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mot")
    p.add_argument("--models")
    p.add_argument("--work")
    p.add_argument("--threads", default="2")
    p.add_argument("--backend", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--precision", choices=["exact", "fast"])
    p.add_argument("--tol", help="the bound (default: backend_bounds for the backend and the file type)")
    p.add_argument("--list", action="store_true")
    p.add_argument("case", nargs="?", choices=sorted(CASES))
    args = p.parse_args()
    if args.list:
        print("\n".join(sorted(CASES)))
        return 0
    if not (args.mot and args.models and args.work and args.case):
        p.error("--mot, --models, --work and CASE are required")
    backend_bounds.skip_without_cuda(args.backend)
    import gguf_ref  # torch: only once the case runs
    globals()["gguf_ref"] = gguf_ref
    folder, path = make_files(args.models, args.case)
    os.makedirs(args.work, exist_ok=True)
    suffix = "_" + args.precision if args.precision else ""
    dump = os.path.join(args.work, args.case + suffix + ".safetensors")
    if os.path.exists(dump):
        os.remove(dump)
    backend = ["--backend", args.backend]
    if args.precision:
        backend += ["--precision", args.precision]
    r = run_mot([args.mot, "run", "-m", path, "-p", PROMPT, "-n", "16", "--temp", "0",
                 "-t", args.threads, "--dump", dump, *backend, *CASES[args.case][2]])
    if r.returncode != 0 and args.backend == "cuda" and backend_bounds.no_device(r.stderr):
        print("skipped: " + r.stderr.strip().splitlines()[-1])
        return 77
    if r.returncode != 0:
        print(f"FAIL: mot exited with {r.returncode}")
        return 1
    if not os.path.exists(dump):
        print(f"FAIL: mot wrote no dump at {dump}")
        return 1
    file_type = CASES[args.case][1][CASES[args.case][1].index("--type") + 1].lower() \
        if "--type" in CASES[args.case][1] else "mixed"
    tol = backend_bounds.tolerance(args.backend, [file_type])
    if args.backend == "cpu" and file_type not in ("f32", "f16", "bf16"):
        # quant_gemv only changes the order rows are read in (docs/schedules.md): every order
        # gives bitwise the dump of the default run
        with open(dump, "rb") as f:
            want = f.read()
        for mode in ("interleaved", "sequential", "lockstep"):
            sched = os.path.join(args.work, f"{args.case}{suffix}_{mode}.yaml")
            with open(sched, "w") as f:
                f.write(f"quant_gemv: {mode}\n")
            other = os.path.join(args.work, f"{args.case}{suffix}_{mode}.safetensors")
            r = run_mot([args.mot, "run", "-m", path, "-p", PROMPT, "-n", "16", "--temp", "0", "-t", args.threads,
                         "--dump", other, "--force", "--schedule", sched, *backend, *CASES[args.case][2]])
            with open(other, "rb") as f:
                same = r.returncode == 0 and f.read() == want
            if not same:
                print(f"FAIL: quant_gemv: {mode}: the dump differs from the default run's (rc {r.returncode})")
                return 1
        print("quant_gemv interleaved, sequential and lockstep: the same dump, bit for bit")
    return gguf_ref.main(["compare", "--gguf", path, "--dump", dump, "--prompt", PROMPT,
                          "--hf-dir", folder, "--tol", args.tol or str(tol)])


if __name__ == "__main__":
    sys.exit(main())
