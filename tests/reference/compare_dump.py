#!/usr/bin/python3
"""Checks a `mot run -m DIR --dump FILE` dump (SPEC.md 2.3) against the float64 reference.

    compare_dump.py --model DIR --dump FILE [--prompt TEXT] [--greedy] [--top-k K] [--tol 1e-4]

- logits: the reference recomputes every row from the dump's own tokens (prompt, then
  each sampled token); per row rel = max|mot - ref| / max|ref| must be <= tol.
- --greedy: each sampled token is the arg-max of mot's own logits row (ties: lower id).
- --top-k K: each sampled token is among the K largest logits of its row.
- --prompt: the prompt tokens equal HF `tokenizers`' encoding of TEXT, BOS as configured.
Prints the worst row; exits 1 on any failure, 2 on unreadable input.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import LlamaRef  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="the Hugging Face model folder mot ran")
    p.add_argument("--dump", required=True, help="the safetensors file from mot run --dump")
    p.add_argument("--name", help="expert name in the dump (default: the folder's last component)")
    p.add_argument("--prompt", help="check the prompt tokens against HF tokenizers")
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--tol", type=float, default=1e-4)
    return p.parse_args(argv)


def hf_prompt_tokens(model_dir, prompt):
    """HF's encoding of the prompt with special tokens. When tokenizer_config.json sets
    add_bos_token / add_eos_token, those win over the post-processor, as transformers'
    LlamaTokenizerFast does."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    cfg_path = os.path.join(model_dir, "tokenizer_config.json")
    cfg = {}
    if os.path.exists(cfg_path):
        with open(cfg_path) as fh:
            cfg = json.load(fh)
    if "add_bos_token" not in cfg and "add_eos_token" not in cfg:
        return tok.encode(prompt, add_special_tokens=True).ids
    ids = tok.encode(prompt, add_special_tokens=False).ids

    def special_id(key):
        value = cfg.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        return tok.token_to_id(value) if value is not None else None

    if cfg.get("add_bos_token") and special_id("bos_token") is not None:
        ids = [special_id("bos_token")] + ids
    if cfg.get("add_eos_token") and special_id("eos_token") is not None:
        ids = ids + [special_id("eos_token")]
    return ids


def logit_errors(mot_logits, ref_logits):
    """-> per-row rel = max|mot - ref| / max|ref|, both [T, V]."""
    diff = np.abs(mot_logits.astype(np.float64) - ref_logits).max(axis=1)
    scale = np.abs(ref_logits).max(axis=1)
    return diff / np.maximum(scale, 1e-30)


def first_argmax(row):
    return int(np.argmax(row))  # numpy returns the first maximum: ties go to the lower id


def read_dump(path, name):
    """-> (tokens int64 [N + T], logits [T, V], N) of expert `name`; ValueError when malformed."""
    dump = read_safetensors(path)
    tok_key, logit_key = f"tokens.{name}", f"logits.{name}"
    for key in (tok_key, logit_key):
        if key not in dump:
            raise ValueError(f"{path}: tensor {key} missing (has {sorted(dump)})")
    tokens = dump[tok_key].astype(np.int64)
    logits = dump[logit_key]
    if tokens.ndim != 1 or logits.ndim != 2:
        raise ValueError(f"{path}: tokens must be 1-D and logits 2-D, found "
                         f"{list(tokens.shape)} and {list(logits.shape)}")
    T = logits.shape[0]
    N = tokens.size - T
    if T < 1 or N < 1:
        raise ValueError(f"{path}: {tokens.size} tokens and {T} logit rows: "
                         "need at least one prompt token and one row")
    return tokens, logits, N


def first_divergence(sampled, ref, tol):
    """SPEC 1.7: a greedy run is compared up to the first step where it sampled another token
    than the reference's arg-max. -> (rows to compare, failure line or None): the step itself
    is compared, and is a failure when the reference's margin there, its best logit minus
    that of mot's token (the top-2 margin when mot took the runner-up), exceeds
    tol * max|ref row|: a near-tie may go either way, anything else may not."""
    for t in range(len(sampled)):
        want = first_argmax(ref[t])
        if sampled[t] == want:
            continue
        margin, bound = ref[t, want] - ref[t, sampled[t]], tol * np.abs(ref[t]).max()
        print(f"step {t}: sampled {sampled[t]}, reference arg-max {want} (margin {margin:.3e}, "
              f"bound {bound:.3e}); rows after it are not compared")
        if margin > bound:
            return t + 1, (f"step {t}: greedy sampled {sampled[t]}, the reference's arg-max is "
                           f"{want}, better by {margin:.3e} > {bound:.3e}")
        return t + 1, None
    return len(sampled), None


def check_dump(dump_path, name, model, tol=1e-4, greedy=False, top_k=0, want_prompt=None,
               ref_greedy=False):
    """The checks of this module on one expert's rows, against `model` (anything with
    .cfg.vocab and .forward(tokens) -> [T, V] float64, e.g. LlamaRef). want_prompt: the
    expected prompt tokens, or None. ref_greedy: stop at the first step where mot's token is
    not the reference's arg-max (first_divergence). -> list of failure lines."""
    tokens, logits, N = read_dump(dump_path, name)
    T, V = logits.shape
    failures = []
    print(f"{name}: {N} prompt tokens, {T} sampled, vocab {V}")

    if want_prompt is not None:
        got = tokens[:N].tolist()
        if got != list(want_prompt):
            failures.append(f"prompt tokens differ from HF tokenizers:\n  mot {got}\n  hf  "
                            f"{list(want_prompt)}")

    if not np.isfinite(logits).all():
        bad = np.argwhere(~np.isfinite(logits))[0]
        failures.append(f"logits row {bad[0]} col {bad[1]} is {logits[bad[0], bad[1]]}")
        return failures

    if V != model.cfg.vocab:
        failures.append(f"logits have {V} columns, config vocab_size is {model.cfg.vocab}")
        return failures
    # Row t is the prediction after position N-1+t; one causal pass over all fed tokens.
    ref = model.forward(tokens[:N + T - 1].tolist())[N - 1:].numpy()
    sampled = tokens[N:]
    if ref_greedy:
        rows, failure = first_divergence(sampled, ref, tol)
        if failure:
            failures.append(failure)
        T, logits, ref, sampled = rows, logits[:rows], ref[:rows], sampled[:rows]
    rel = logit_errors(logits, ref)
    worst = int(np.argmax(rel))
    print(f"logits: worst row {worst} rel {rel[worst]:.3e} (tol {tol:g}) over {T} rows; "
          f"max|ref| {np.abs(ref).max():.3f}")
    for t in np.nonzero(rel > tol)[0][:5]:
        failures.append(f"logits row {t}: rel error {rel[t]:.3e} > {tol:g}")

    for t in range(T):
        if greedy and sampled[t] != first_argmax(logits[t]):
            failures.append(f"step {t}: greedy sampled {sampled[t]}, arg-max of mot's row is "
                            f"{first_argmax(logits[t])}")
        if top_k:
            rank = int((logits[t] > logits[t, sampled[t]]).sum())
            if rank >= top_k:
                failures.append(f"step {t}: sampled {sampled[t]} has rank {rank}, "
                                f"outside top-k {top_k}")
    return failures


def check(args):
    """-> list of failure lines (empty when everything holds)."""
    name = args.name or os.path.basename(os.path.normpath(args.model))
    want = hf_prompt_tokens(args.model, args.prompt) if args.prompt is not None else None
    read_dump(args.dump, name)  # a malformed dump is an error before the model loads
    return check_dump(args.dump, name, LlamaRef.load(args.model), args.tol, args.greedy,
                      args.top_k, want)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    try:
        failures = check(args)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for line in failures:
        print(f"FAIL: {line}")
    print("PASS" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
