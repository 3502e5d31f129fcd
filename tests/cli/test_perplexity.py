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
- --kl-divergence-base writes llama.cpp's file (header, the text's tokens, each scored row's
  log-probabilities within half a quantization step of the reference's), and --kl-divergence
  of the Q4_0 file against the f32 model's prints the KLD, PPL and same-top statistics that the
  reference's log-probabilities give; the base model against its own file gives KLD ~ 0;
- bad inputs: one "error:" line, non-zero exit.
With --backend cuda (ctest cli_perplexity_cuda, label gpu; skipped without a device) the runs
are on the CUDA backend, held to its bound for the model's dtype.

usage: test_perplexity.py MOT WORK_DIR [--backend cpu|cuda]"""
import functools
import math
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "reference"))
sys.path.insert(0, os.path.join(TESTS, "tools"))
import backend_bounds  # noqa: E402
import cli_case  # noqa: E402
from cli_case import check  # noqa: E402
import perplexity_ref  # noqa: E402
from compare_dump import hf_prompt_tokens  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

MOT, WORK, BACKEND = cli_case.args()
run = functools.partial(cli_case.run, MOT)
make_model = functools.partial(cli_case.make_model, WORK)

TEXT = "".join(
    f"Line {i}: the {['quick', 'slow', 'red', 'calm'][i % 4]} fox passes {i * 7 % 13} hens, "
    f"then {['naps', 'runs', 'sings'][i % 3]} by the river.\n" for i in range(40))


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
    prefix = bos_prefix(model, ids)
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


def bos_prefix(model, ids):
    """What HF's encoding with special tokens puts before the text's own tokens (BOS, or nothing)."""
    from tokenizers import Tokenizer
    plain = Tokenizer.from_file(os.path.join(model, "tokenizer.json")).encode(TEXT, add_special_tokens=False).ids
    return ids[:len(ids) - len(plain)] if ids[len(ids) - len(plain):] == plain else []


def gguf_case(text_path):
    import gguf_ref
    folder = make_model("gq-src", "--preset", "tiny-gqa", "--layers", "2", "--seed", "5")
    path = os.path.join(WORK, "tiny-q4_0.gguf")
    subprocess.run([sys.executable, os.path.join(TESTS, "tools", "make_gguf.py"), folder, path, "--type", "Q4_0",
                    "--embed-type", "Q8_0"], check=True, stdout=subprocess.DEVNULL)
    ref, _, _ = gguf_ref.load(path)
    perplexity("gguf Q4_0", ref, path, text_path, 48, 20, 2, backend_bounds.tolerance(BACKEND, ["f32"]))


def read_base(path):
    """llama.cpp's KL-divergence base file -> (n_ctx, vocab, tokens [chunks, n_ctx], log-probs
    [chunks, scored, vocab] as its rows decode, the floor of each row [chunks, scored])."""
    raw = open(path, "rb").read()
    assert raw[:8] == b"_logits_", raw[:8]
    n_ctx, vocab, chunks = (int(v) for v in np.frombuffer(raw[8:20], np.int32))
    tokens = np.frombuffer(raw[20:20 + 4 * n_ctx * chunks], np.int32).reshape(chunks, n_ctx)
    nv, scored = 2 * ((vocab + 1) // 2) + 4, n_ctx - 1 - n_ctx // 2
    rows = np.frombuffer(raw[20 + 4 * n_ctx * chunks:], np.uint16)
    assert rows.size == chunks * scored * nv, (rows.size, chunks, scored, nv)
    rows = rows.reshape(chunks, scored, nv)
    head = rows[:, :, :4].copy().view(np.float32)  # [chunks, scored, 2]: scale, min_log_prob
    logp = head[:, :, 1:2].astype(np.float64) + head[:, :, 0:1].astype(np.float64) * rows[:, :, 4:4 + vocab]
    return n_ctx, vocab, tokens, logp, head


def ref_log_probs(model, chunk, first):
    """float64 log softmax of the rows first .. n - 2 of a chunk [scored, vocab]."""
    x = model.forward([int(t) for t in chunk]).numpy()[first:-1]
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def kld_case(text_path):
    """--kl-divergence-base (the f32 model) then --kl-divergence (its Q4_0 GGUF, the same
    tokenizer): the file's rows against the reference, and the printed statistics against the
    same sums over the reference's log-probabilities."""
    import gguf_ref
    from llama_ref import LlamaRef
    folder = os.path.join(WORK, "gq-src")
    base_model, q_model = LlamaRef.load(folder), gguf_ref.load(os.path.join(WORK, "tiny-q4_0.gguf"))[0]
    base = os.path.join(WORK, "base.kld")
    ctx, chunks = 64, 4
    p = run(["perplexity", "-m", folder, "-f", text_path, "-c", str(ctx), "--chunks", str(chunks), "-t", "2",
             "--backend", BACKEND, "--kl-divergence-base", base])
    if not check("kld: writing the base file", p.returncode == 0, p.stderr.strip()[-300:] if p.returncode else ""):
        return
    n_ctx, vocab, tokens, logp, head = read_base(base)
    first = n_ctx // 2
    check("kld: the base file's header", (n_ctx, vocab, tokens.shape[0]) == (ctx, base_model.cfg.vocab, chunks),
          f"{(n_ctx, vocab, tokens.shape)}")
    ids = hf_prompt_tokens(folder, TEXT)
    check("kld: the base file holds the text's tokens (before BOS)", tokens.ravel().tolist() == ids[:ctx * chunks])
    evaluated = chunks_of(tokens.ravel().tolist(), ctx, chunks, bos_prefix(folder, ids))  # each chunk's first token BOS, as run
    worst = 0.0
    ref_base = [ref_log_probs(base_model, evaluated[c], first) for c in range(chunks)]
    for c in range(chunks):
        above = ref_base[c] > logp[c].min(axis=1, keepdims=True) + 1e-3  # above the row's floor
        step = head[c, :, 0:1].astype(np.float64)
        err = np.abs(logp[c] - ref_base[c]) / (0.5 * step + 4e-4)
        worst = max(worst, float(err[above].max()))
    check("kld: every row decodes to the reference's log-probabilities (within half a step + 4e-4)", worst <= 1.0,
          f"worst at {worst:.3f} of the bound")

    p = run(["perplexity", "-m", os.path.join(WORK, "tiny-q4_0.gguf"), "--kl-divergence-base", base,
             "--kl-divergence", "-t", "2", "--backend", BACKEND])
    if not check("kld: comparing the Q4_0 file with the base", p.returncode == 0,
                 p.stderr.strip()[-300:] if p.returncode else ""):
        return
    kld, same, nll, nll_base = [], 0, [], []
    for c in range(chunks):
        lq = ref_log_probs(q_model, evaluated[c], first)
        lb = logp[c]
        kld += list(np.where(lb > -16, np.exp(lb) * (lb - lq), 0.0).sum(axis=1))
        same += int((lq.argmax(axis=1) == lb.argmax(axis=1)).sum())
        tgt = tokens[c][first + 1:]
        nll += list(-lq[np.arange(len(tgt)), tgt])
        nll_base += list(-lb[np.arange(len(tgt)), tgt])
    kld, n = np.array(kld), len(kld)

    def printed(name):
        m = re.search(re.escape(name) + r"\s*:\s*(-?[0-9.]+)", p.stdout)
        return float(m.group(1)) if m else None

    for name, want, tol in [("Mean    KLD", kld.mean(), 2e-6 + 1e-3 * kld.mean()),
                            ("Maximum KLD", kld.max(), 2e-6 + 1e-3 * kld.max()),
                            ("Median  KLD", float(np.median(kld)), 2e-6 + 1e-3 * float(np.median(kld))),
                            ("Mean PPL(Q)", math.exp(np.mean(nll)), 1e-4 * math.exp(np.mean(nll))),
                            ("Mean PPL(base)", math.exp(np.mean(nll_base)), 1e-4 * math.exp(np.mean(nll_base))),
                            ("Same top p", 100.0 * same / n, 100.0 / n + 1e-3)]:
        got = printed(name)
        check(f"kld: {name} = {got}", got is not None and abs(got - want) <= tol, f"want {want:.6f}")
    rows = re.findall(r"^\s+(\d+)\s+[0-9.]+ \u00b1", p.stdout, re.M)
    check("kld: a table row per chunk", rows == [str(c + 1) for c in range(chunks)], repr(p.stdout[:400]))

    # the base file's own model against it: nothing differs but the file's rounding
    p = run(["perplexity", "-m", folder, "--kl-divergence-base", base, "--kl-divergence", "-t", "2",
             "--backend", BACKEND])
    got, top = printed("Mean    KLD"), printed("Same top p")
    check("kld: the base model against its own file: KLD ~ 0, the same top token", p.returncode == 0 and
          got is not None and got < 1e-5 and top == 100.0, f"KLD {got}, same top {top}")


def bad_inputs(model, text_path):
    short = os.path.join(WORK, "short.txt")
    with open(short, "w") as fh:
        fh.write("A few words.")
    nul = os.path.join(WORK, "nul.txt")
    with open(nul, "wb") as fh:
        fh.write(b"text\0more text")
    os.makedirs(os.path.join(WORK, "a-dir"), exist_ok=True)
    base = ["perplexity", "-m", model, "-t", "1"]
    kld_base, cut = os.path.join(WORK, "base.kld"), os.path.join(WORK, "cut.kld")
    lying, nan_row = os.path.join(WORK, "lying.kld"), os.path.join(WORK, "nan.kld")
    with open(kld_base, "rb") as src:
        good = src.read()
    with open(cut, "wb") as dst:
        dst.write(good[:-10])
    with open(lying, "wb") as dst:  # n_chunk 1000
        dst.write(good[:16] + np.int32(1000).tobytes() + good[20:])
    n_ctx = int(np.frombuffer(good[8:12], np.int32)[0])
    n_chunk = int(np.frombuffer(good[16:20], np.int32)[0])
    with open(nan_row, "wb") as dst:  # chunk 1's first row: a NaN scale
        at = 20 + 4 * n_ctx * n_chunk
        dst.write(good[:at] + np.float32("nan").tobytes() + good[at + 4:])
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
            ("an unknown option", base + ["-f", text_path, "--hellaswag"], ["--hellaswag"]),
            ("a stray argument", base + ["-f", text_path, "extra"], ["extra"]),
            ("a missing model", ["perplexity", "-m", os.path.join(WORK, "nope"), "-f", text_path], ["nope"]),
            ("--kl-divergence without a base file", base + ["--kl-divergence"], ["--kl-divergence-base FILE"]),
            ("--kl-divergence with -f", base + ["--kl-divergence", "--kl-divergence-base", kld_base, "-f", text_path],
             ["-f"]),
            ("a base file that is not one", base + ["--kl-divergence", "--kl-divergence-base", text_path],
             ["text.txt", "_logits_"]),
            ("a truncated base file", base + ["--kl-divergence", "--kl-divergence-base", cut],
             ["cut.kld", "truncated"]),
            ("a base file whose header lies", base + ["--kl-divergence", "--kl-divergence-base", lying],
             ["lying.kld", "1000 chunks", "truncated"]),
            ("a NaN in a base file's row", base + ["--kl-divergence", "--kl-divergence-base", nan_row],
             ["nan.kld", "chunk 1, row 1", "scale nan"]),
            ("a base file of another vocabulary", ["perplexity", "-m", os.path.join(WORK, "sp-f16-tied"),
                                                   "--kl-divergence", "--kl-divergence-base", kld_base],
             ["base.kld", "vocabulary"]),
            ("-c unlike the base file's", base + ["--kl-divergence", "--kl-divergence-base", kld_base, "-c", "32"],
             ["-c 32", "64"]),
            ("--kl-divergence-base onto a directory", base + ["-f", text_path, "--kl-divergence-base",
                                                              os.path.join(WORK, "a-dir")],
             ["--kl-divergence-base", "a-dir"])]:
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
    kld_case(text_path)
    if BACKEND == "cpu":
        bad_inputs(os.path.join(WORK, "gq-src"), text_path)
    cli_case.finish("perplexity: chunks, NLLs and the printed figures match the float64 reference")


main()
