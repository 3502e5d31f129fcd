#!/usr/bin/env python3
"""`mot perplexity` (llama-perplexity's computation) against the float64 reference.

For each model the text is cut into chunks of -c tokens; the dump holds each chunk's tokens as
evaluated and the NLL of every scored position (the second half of the chunk). Checked here:
- the chunks' tokens are HF's encoding of the text, cut at -c, each chunk starting with BOS
  where the tokenizer adds one (llama.cpp replaces a chunk's first token the same way);
- every scored NLL against -log softmax of the float64 reference's logits for the same chunk,
  within 2 x SPEC 1.7's logits bound x the row's largest |logit| (NLL = logsumexp - x_t);
- the printed "[c]PPL," values (running) and "Final estimate: PPL = X +/- E" against the same
  sums in numpy (E: llama.cpp's standard error of the mean NLL, times PPL);
- a pass size that cuts chunks unevenly (-b 12 of -c 32), one pass a chunk and one token a
  pass give the same NLLs (the prompt, chunked-prompt and decode paths);
- a quantized GGUF (Q4_0 weights, Q8_0 embeddings) against the reference over its own
  dequantized weights;
- bad inputs: one "error:" line, non-zero exit.
With --backend cuda (ctest cli_perplexity_cuda, label gpu; skipped without a device) the runs
are on the CUDA backend, held to its bound for the model's dtype.

usage: test_perplexity.py MOT WORK_DIR [--backend cpu|cuda]"""
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "reference"))
sys.path.insert(0, os.path.join(TESTS, "tools"))
import backend_bounds  # noqa: E402
import perplexity_ref  # noqa: E402
from compare_dump import hf_prompt_tokens  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

MOT, WORK = sys.argv[1], sys.argv[2]
BACKEND = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--backend" else "cpu"
failures = []

TEXT = "".join(
    f"Line {i}: the {['quick', 'slow', 'red', 'calm'][i % 4]} fox passes {i * 7 % 13} hens, "
    f"then {['naps', 'runs', 'sings'][i % 3]} by the river.\n" for i in range(40))


def check(label, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {label}{': ' + detail if detail else ''}")
    if not ok:
        failures.append(f"{label}: {detail}")
    return ok


def run(args, timeout=300):
    return subprocess.run([MOT] + args, capture_output=True, text=True, errors="replace", timeout=timeout)


def make_model(name, *flags):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    subprocess.run([sys.executable, os.path.join(TESTS, "tools", "make_model.py"), d, *flags], check=True,
                   stdout=subprocess.DEVNULL)
    return d


def perplexity(label, ref_model, model, text_path, ctx, batch, chunks, tol, want_tokens=None):
    """Runs mot perplexity with --dump and checks it (perplexity_ref.checks); -> the NLLs or None."""
    dump = os.path.join(WORK, f"{label.replace(' ', '_')}-{batch}.safetensors")
    if os.path.exists(dump):
        os.remove(dump)
    p = run(["perplexity", "-m", model, "-f", text_path, "-c", str(ctx), "-b", str(batch), "--chunks", str(chunks),
             "-t", "2", "--backend", BACKEND, "--dump", dump])
    if backend_bounds.no_device(p.stderr):
        print(f"skipped: {p.stderr.strip()}")
        sys.exit(backend_bounds.SKIP)
    label = f"{label} -b {batch}"
    if not check(f"{label}: mot perplexity runs", p.returncode == 0, p.stderr.strip()[-400:] if p.returncode else ""):
        return None
    for what, ok, detail in perplexity_ref.checks(ref_model, dump, p.stdout, ctx, tol, want_tokens):
        check(f"{label}: {what}", ok, detail)
    return read_safetensors(dump)["nll"]


def chunks_of(ids, ctx, n, prefix):
    out = []
    for c in range(n):
        chunk = list(ids[c * ctx:(c + 1) * ctx])
        chunk[:len(prefix)] = prefix
        out.append(chunk)
    return out


def hf_case(label, flags, ctx, batches, chunks, text_path):
    from llama_ref import LlamaRef
    model = make_model(label, *flags)
    ref = LlamaRef.load(model)
    tol = backend_bounds.tolerance(BACKEND, [backend_bounds.dtype_of(flags)])
    ids = hf_prompt_tokens(model, TEXT)
    plain = hf_prompt_tokens_plain(model, TEXT)
    prefix = ids[:len(ids) - len(plain)] if ids[len(ids) - len(plain):] == plain else []
    want = chunks_of(ids, ctx, chunks, prefix)
    runs = []
    for b in batches:
        nll = perplexity(label, ref, model, text_path, ctx, b, chunks, tol, want)
        if nll is not None:
            runs.append((b, nll))
    for b, nll in runs[1:]:
        d = float(np.max(np.abs(nll - runs[0][1])))
        check(f"{label}: -b {b} and -b {runs[0][0]} agree (passes cut differently)", d <= 1e-4, f"max diff {d:.2e}")
    return prefix


def hf_prompt_tokens_plain(model, text):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(os.path.join(model, "tokenizer.json")).encode(text, add_special_tokens=False).ids


def gguf_case(text_path):
    import gguf_ref
    folder = make_model("gq-src", "--preset", "tiny-gqa", "--layers", "2", "--seed", "5")
    path = os.path.join(WORK, "tiny-q4_0.gguf")
    subprocess.run([sys.executable, os.path.join(TESTS, "tools", "make_gguf.py"), folder, path, "--type", "Q4_0",
                    "--embed-type", "Q8_0"], check=True, stdout=subprocess.DEVNULL)
    ref, _, _ = gguf_ref.load(path)
    perplexity("gguf Q4_0", ref, path, text_path, 48, 20, 2, backend_bounds.tolerance(BACKEND, ["f32"]))


def bad_inputs(model, text_path):
    short = os.path.join(WORK, "short.txt")
    with open(short, "w") as fh:
        fh.write("A few words.")
    nul = os.path.join(WORK, "nul.txt")
    with open(nul, "wb") as fh:
        fh.write(b"text\0more text")
    os.makedirs(os.path.join(WORK, "a-dir"), exist_ok=True)
    base = ["perplexity", "-m", model, "-t", "1"]
    for label, args, words in [
            ("a text shorter than one chunk", base + ["-f", short, "-c", "64"], ["less than one chunk", "-c"]),
            ("-c 3", base + ["-f", text_path, "-c", "3"], ["-c"]),
            ("-c not a number", base + ["-f", text_path, "-c", "many"], ["-c", "many"]),
            ("-b 0", base + ["-f", text_path, "-b", "0"], ["-b"]),
            ("--chunks 0", base + ["-f", text_path, "--chunks", "0"], ["--chunks"]),
            ("no -f", base, ["-f TEXT_FILE"]),
            ("no -m", ["perplexity", "-f", text_path], ["-m MODEL"]),
            ("a missing text file", base + ["-f", os.path.join(WORK, "absent.txt")], ["absent.txt", "cannot open"]),
            ("a directory as the text", base + ["-f", os.path.join(WORK, "a-dir")], ["a-dir", "not a regular file"]),
            ("a NUL byte in the text", base + ["-f", nul], ["nul.txt", "NUL byte", "offset 4"]),
            ("--dump onto a directory", base + ["-f", text_path, "--dump", os.path.join(WORK, "a-dir")],
             ["--dump", "a-dir"]),
            ("an unknown option", base + ["-f", text_path, "--kl-divergence"], ["--kl-divergence"]),
            ("a stray argument", base + ["-f", text_path, "extra"], ["extra"]),
            ("a missing model", ["perplexity", "-m", os.path.join(WORK, "nope"), "-f", text_path], ["nope"])]:
        p = run(args, timeout=60)
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        errs = [ln for ln in lines if ln.startswith("error:")]
        check(f"bad input: {label}", p.returncode not in (0,) and p.returncode > 0 and len(errs) == 1 and
              lines[-1] == errs[0] and all(w in errs[0] for w in words), f"exit {p.returncode}, {p.stderr.strip()!r}")


def main():
    backend_bounds.skip_without_cuda(BACKEND)
    os.makedirs(WORK, exist_ok=True)
    text_path = os.path.join(WORK, "text.txt")
    with open(text_path, "w") as fh:
        fh.write(TEXT)
    hf_case("gqa-f32", ["--preset", "tiny-gqa", "--dtype", "f32", "--untied", "--tokenizer", "byte-level",
                        "--layers", "2", "--seed", "3"], 32, [12, 32, 1], 3, text_path)
    prefix = hf_case("sp-f16-tied", ["--preset", "tiny", "--dtype", "f16", "--tied", "--tokenizer", "sentencepiece",
                                     "--layers", "2", "--seed", "4"], 40, [16], 2, text_path)
    check("sentencepiece: its chunks start with BOS (the tokenizer adds one)", len(prefix) == 1, f"{prefix}")
    gguf_case(text_path)
    if BACKEND == "cpu":
        bad_inputs(os.path.join(WORK, "gqa-f32"), text_path)
    if failures:
        print(f"{len(failures)} failed:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("perplexity: chunks, NLLs and the printed figures match the float64 reference")


main()
