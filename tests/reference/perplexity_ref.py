"""The float64 oracle of `mot perplexity` (runtime/perplexity.h, llama-perplexity's computation).

`mot perplexity --dump FILE` writes tokens i32 [chunks, n_ctx] (each chunk as evaluated), nll
f64 [chunks, n_ctx - first - 1] (positions first .. n_ctx - 2, each predicting the next token)
and first i32 [1]. checks() holds them and the printed figures against a reference model:
- every NLL against -log softmax of the reference's logits for the same chunk, within
  2 x the logits bound x the row's largest |logit| (NLL = logsumexp - x_t, so an error e in each
  logit moves it by at most 2e);
- the printed "[c]PPL," (running over the chunks so far) and "Final estimate: PPL = X +/- E"
  (E: the standard error of the mean NLL over count - 1, times PPL, as llama.cpp prints it).
"""
import math
import re

import numpy as np

from safetensors_io import read_safetensors


def parse_output(stdout):
    """-> ([running PPL per chunk], final PPL, its error); None for the ones missing."""
    running = [(int(c), float(v)) for c, v in re.findall(r"\[(\d+)\]([0-9.]+),", stdout)]
    final = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", stdout)
    if [c for c, _ in running] != list(range(1, len(running) + 1)):
        return None, None, None
    return [v for _, v in running], *((float(final.group(1)), float(final.group(2))) if final else (None, None))


def token_nll(logits, tokens, first):
    """-log softmax(logits[j])[tokens[j + 1]], j = first .. n - 2 (float64), and each row's max |x|."""
    rows = np.asarray(logits, dtype=np.float64)[first:-1]
    m = rows.max(axis=1, keepdims=True)
    lse = np.log(np.exp(rows - m).sum(axis=1)) + m[:, 0]
    return lse - rows[np.arange(len(rows)), np.asarray(tokens)[first + 1:]], np.abs(rows).max(axis=1)


def checks(ref_model, dump_path, stdout, n_ctx, tol, want_tokens=None):
    """-> [(what, ok, detail)] for one run. ref_model.forward(tokens) -> logits [T, V] (torch)."""
    out = []
    dump = read_safetensors(dump_path)
    tokens, nll, first = dump["tokens"].astype(np.int64), dump["nll"], int(dump["first"][0])
    chunks = tokens.shape[0]
    out.append(("the first scored position is n_ctx / 2", first == n_ctx // 2, f"{first}"))
    if want_tokens is not None:
        bad = [c for c in range(chunks) if list(tokens[c]) != list(want_tokens[c])]
        c = bad[0] if bad else 0
        out.append(("the chunks are the text's tokens (BOS first where the tokenizer adds it)", not bad,
                    f"chunk {c + 1} {list(tokens[c][:8])}... want {list(want_tokens[c][:8])}..."))
    worst, ref = 0.0, []
    for c in range(chunks):
        want, scale = token_nll(ref_model.forward([int(t) for t in tokens[c]]).numpy(), tokens[c], first)
        ref.append(want)
        worst = max(worst, float(np.max(np.abs(nll[c] - want) / (2 * tol * np.maximum(scale, 1.0)))))
    out.append((f"{chunks} x {nll.shape[1]} NLLs within 2 x {tol:g} x max|logit| of the float64 reference",
                worst <= 1.0, f"worst at {worst:.3f} of the bound"))
    running, ppl, err = parse_output(stdout)
    if running is None or ppl is None:
        out.append(("stdout has [1]..[chunks] and the final estimate", False, repr(stdout)))
        return out
    per_chunk = len(ref[0])
    ref = np.concatenate(ref)
    want_running = [math.exp(ref[:per_chunk * (c + 1)].mean()) for c in range(chunks)]
    close = len(running) == chunks and all(abs(a - b) <= 1e-4 * b + 6e-5 for a, b in zip(running, want_running))
    out.append(("the running PPL per chunk", close, f"{running} want {[round(v, 4) for v in want_running]}"))
    mean, var = ref.mean(), (ref * ref).mean() - ref.mean() ** 2
    want_ppl = math.exp(mean)
    want_err = math.sqrt(var / (len(ref) - 1)) * want_ppl
    out.append((f"Final estimate: PPL = {ppl} +/- {err}",
                abs(ppl - want_ppl) <= 1e-4 * want_ppl + 6e-5 and abs(err - want_err) <= 1e-3 * want_err + 6e-6,
                f"want {want_ppl:.4f} +/- {want_err:.5f}"))
    return out
