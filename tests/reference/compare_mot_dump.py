#!/usr/bin/python3
"""Checks a `mot run PIPELINE.yaml --dump FILE` dump (SPEC 2.3) against the float64 MoT
reference (mot_ref.py).

    compare_mot_dump.py --pipeline P.yaml --dump FILE --prompt TEXT [--experts a,b] [--drop x]
                        [-n MAX_TOKENS] [--greedy] [--top-k K] [--tol 1e-4] [--score-tol 1e-4]

- route: route.scores (absent when --experts forced the set) within rel --score-tol of the
  reference (max|mot - ref| / max|ref|); route.active equal to the reference's set.
- tokens: each active expert's prompt tokens equal HF `tokenizers`' encoding of its
  templated prompt; tokens.{e} and logits.{e} exist exactly for the active experts.
- generation rules (SPEC 1.5): a non-primary's tokens end at its first EOS (or it never
  dies and samples as many tokens as the primary); the primary's end at its first EOS or
  at -n tokens; every expert samples at least once and at most as often as the primary.
- logits: every row of every active expert, recomputed teacher-forced from the dump's own
  tokens; per row rel = max|mot - ref| / max|ref| <= --tol.
- --greedy: each sampled token is the arg-max of mot's own row (ties: lower id).
- --top-k K: each sampled token is among the K largest logits of its row.
Prints the worst rows; exits 1 on any failure, 2 on unreadable input.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_dump import first_argmax, logit_errors  # noqa: E402
from mot_ref import MotRef  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pipeline", required=True)
    p.add_argument("--dump", required=True)
    p.add_argument("--prompt", required=True, help="the -p TEXT given to mot run")
    p.add_argument("--experts", help="the --experts a,b,c given to mot run (primary first)")
    p.add_argument("--drop", action="append", default=[], help="a --drop NAME given to mot")
    p.add_argument("-n", "--max-tokens", type=int,
                   help="the -n given to mot (default: the pipeline's sampler.max_tokens)")
    p.add_argument("--weights", help="MoT weights (default: the pipeline's)")
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--score-tol", type=float, default=1e-4)
    return p.parse_args(argv)


def check_route(args, ref, dump, failures):
    """-> the dump's active set (a list of indices) after checking it."""
    if "route.active" not in dump:
        raise ValueError(f"{args.dump}: tensor route.active missing")
    active = [int(i) for i in np.asarray(dump["route.active"]).reshape(-1)]
    forced = args.experts.split(",") if args.experts else None
    M = len(ref.pipe.names)
    if any(not 0 <= i < M for i in active) or len(set(active)) != len(active):
        raise ValueError(f"{args.dump}: route.active {active} is not a set of indices < {M}")
    if forced:
        if "route.scores" in dump:
            failures.append("route.scores present though the set was forced")
    else:
        if "route.scores" not in dump:
            failures.append("route.scores missing")
        else:
            got = np.asarray(dump["route.scores"], dtype=np.float64).reshape(-1)
            want = ref.router_scores(args.prompt).numpy()
            if got.shape != want.shape:
                failures.append(f"route.scores has {got.size} entries, want {want.size}")
            else:
                rel = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))
                print(f"route.scores: rel {rel:.3e} (tol {args.score_tol:g}); mot "
                      f"{np.round(got, 5).tolist()}")
                if rel > args.score_tol:
                    failures.append(f"route.scores rel error {rel:.3e} > {args.score_tol:g}: "
                                    f"mot {got.tolist()}, ref {want.tolist()}")
    scores = None if forced else ref.router_scores(args.prompt)
    want_active = ref.select_active(scores, forced=forced, drop=args.drop)
    names = ref.pipe.names
    print(f"route.active: mot {[names[i] for i in active]}, ref {[names[i] for i in want_active]}")
    if active != want_active:
        failures.append(f"route.active {[names[i] for i in active]}, reference "
                        f"{[names[i] for i in want_active]}")
    return active


def read_expert(args, dump, name):
    """-> (tokens int64 [N + T], logits [T, V]) of one expert, shapes checked."""
    for key in (f"tokens.{name}", f"logits.{name}"):
        if key not in dump:
            raise ValueError(f"{args.dump}: tensor {key} missing (has {sorted(dump)})")
    tokens = np.asarray(dump[f"tokens.{name}"]).astype(np.int64)
    logits = np.asarray(dump[f"logits.{name}"])
    if tokens.ndim != 1 or logits.ndim != 2:
        raise ValueError(f"{args.dump}: tokens.{name} must be 1-D and logits.{name} 2-D, "
                         f"found {list(tokens.shape)} and {list(logits.shape)}")
    if logits.shape[0] < 1 or tokens.size <= logits.shape[0]:
        raise ValueError(f"{args.dump}: expert {name}: {tokens.size} tokens and "
                         f"{logits.shape[0]} logit rows: need a prompt token and a row")
    return tokens, logits


def check_generation_rules(ref, active, sampled, max_tokens, failures):
    """SPEC 1.5: who stops where. sampled {m: sampled token ids}."""
    names, p = ref.pipe.names, active[0]
    T_p = len(sampled[p])
    for m in active:
        toks, eos = sampled[m], ref.eos[m]
        ends = [t for t, x in enumerate(toks) if x in eos]
        if ends and ends[0] != len(toks) - 1:
            failures.append(f"{names[m]}: sampled EOS at step {ends[0]} but went on to "
                            f"{len(toks)} tokens")
        if m == p:
            if not ends and max_tokens and T_p != max_tokens:
                failures.append(f"primary {names[m]}: {T_p} tokens without EOS, -n is "
                                f"{max_tokens}")
            if max_tokens and T_p > max_tokens:
                failures.append(f"primary {names[m]}: {T_p} tokens > -n {max_tokens}")
        elif not ends and len(toks) != T_p:
            failures.append(f"{names[m]} never sampled EOS but has {len(toks)} tokens, the "
                            f"primary {T_p}")
        elif len(toks) > T_p:
            failures.append(f"{names[m]}: {len(toks)} tokens, more than the primary's {T_p}")


def check(args):
    ref = MotRef.load(args.pipeline, args.weights)
    dump = read_safetensors(args.dump)
    failures = []
    active = check_route(args, ref, dump, failures)
    names = ref.pipe.names
    extra = sorted(k for k in dump if k.split(".", 1)[0] in ("tokens", "logits")
                   and k.split(".", 1)[1] not in [names[m] for m in active])
    if extra:
        failures.append(f"tensors for inactive experts: {extra}")

    fed, n_prompt, sampled, mot_logits = {}, {}, {}, {}
    for m in active:
        tokens, logits = read_expert(args, dump, names[m])
        T = logits.shape[0]
        N = tokens.size - T
        want = ref.expert_prompt_tokens(m, args.prompt)
        if tokens[:N].tolist() != want:
            failures.append(f"{names[m]}: prompt tokens differ from HF tokenizers of the "
                            f"templated prompt:\n  mot {tokens[:N].tolist()}\n  hf  {want}")
        V = ref.experts[m].cfg.vocab
        if logits.shape[1] != V:
            raise ValueError(f"{args.dump}: logits.{names[m]} has {logits.shape[1]} columns, "
                             f"vocab_size is {V}")
        if not np.isfinite(logits).all():
            r, c = np.argwhere(~np.isfinite(logits))[0]
            failures.append(f"{names[m]}: logits row {r} col {c} is {logits[r, c]}")
            return failures
        if int(tokens.min()) < 0 or int(tokens.max()) >= V:
            failures.append(f"{names[m]}: token ids outside [0, {V})")
            return failures
        print(f"{names[m]}: {N} prompt tokens, {T} sampled {tokens[N:].tolist()}")
        fed[m], n_prompt[m] = tokens[:N + T - 1].tolist(), N
        sampled[m], mot_logits[m] = tokens[N:].tolist(), logits

    max_tokens = args.max_tokens if args.max_tokens is not None else \
        ref.pipe.sampler.get("max_tokens")
    check_generation_rules(ref, active, sampled, max_tokens, failures)

    want = ref.recompute(active, fed, n_prompt)
    for m in active:
        rel = logit_errors(mot_logits[m], want[m].numpy())
        worst = int(np.argmax(rel))
        print(f"{names[m]}: logits worst row {worst} rel {rel[worst]:.3e} (tol {args.tol:g}); "
              f"max|ref| {float(want[m].abs().max()):.3f}")
        for t in np.nonzero(rel > args.tol)[0][:5]:
            failures.append(f"{names[m]}: logits row {t}: rel error {rel[t]:.3e} > {args.tol:g}")
        for t, tok in enumerate(sampled[m]):
            row = mot_logits[m][t]
            if args.greedy and tok != first_argmax(row):
                failures.append(f"{names[m]} step {t}: greedy sampled {tok}, arg-max of mot's "
                                f"row is {first_argmax(row)}")
            if args.top_k and int((row > row[tok]).sum()) >= args.top_k:
                failures.append(f"{names[m]} step {t}: sampled {tok} is outside the top "
                                f"{args.top_k}")
    return failures


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
