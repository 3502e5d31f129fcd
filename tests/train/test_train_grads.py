#!/usr/bin/python3
"""mot's training gradients against the float64 reference (SPEC 5, "What to compare").

    test_train_grads.py --mot MOT --pool DIR --scenario NAME --work DIR [--batch B]
                        [--n N] [--data-seed S] [--noise-seed S] [--ref-only]
                        [--listen Q:EXPERT,...] [--l-route X]

Builds the pool's scenario (make_mot_pool.py), a data file (make_train_data.py) and Gumbel
noise (train_ref.py noise, one step), then runs

    MOT train PIPE --data D --noise N --batch B --dropout 0 --grad-dump WORK/mot.safetensors
    train_ref.py grads PIPE --data D --noise N --batch B --out WORK/ref.safetensors

and compares (both files: loss.{total,lm,ent,bal,con,route} [1], grad.{term}.{tensor},
route.active0/1 i32 [B, K], with --l-route route.target i32 [B]; mot's f32, the reference's
f64):
- route.active0 and route.active1 equal, and route.target (L_route's targets: the expert
  best alone on each example) when the reference has it;
- every loss within 1e-5 relative (of max(|ref|, 1e-2): an f32 sum of O(1) terms cannot do
  better than ~1e-7 absolute, which a relative bound on a near-0 L_con or L_bal would ask);
- every gradient, per term and tensor: max|mot - ref| / max|ref| <= 1e-4 (SPEC 5). A tensor
  whose reference gradient is 0 -- exactly, or at float64 roundoff (<= 1e-10 of the term's
  largest |ref| anywhere; e.g. attn.k_proj.bias, whose gradient is mathematically 0 because
  the softmax ignores a per-query constant) -- passes when max|mot| <= 1e-6 x that largest
  |ref| (of grad.total when the whole term is 0 or at roundoff level, <= 1e-10 of
  grad.total's: L_con when both sets hold the same experts in another order).
Prints one line per failing tensor and a summary; exits 1 on any failure.

--listen 0:a,1:c: both run the scenario's expanded graph (`mot graph`) edited so that expert
a only listens at attention 0 and c at attention 1 (docs/pipeline.md, an attention's
`listeners`: queries when primary, keys and values not attended).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_common as tc  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402
import backend_bounds  # noqa: E402

TERMS = ("total", "lm", "ent", "bal", "con", "route")
GRAD_TOL, LOSS_TOL, LOSS_FLOOR, ZERO_REL, ZERO_TOL = 1e-4, 1e-5, 1e-2, 1e-10, 1e-6


def compare(mot, ref):
    """-> list of failure lines (empty: pass); prints a summary."""
    fails = []
    for key in ("route.active0", "route.active1") + (("route.target",) if "route.target" in ref else ()):
        if key not in mot:
            fails.append(f"{key}: missing in mot's dump")
        elif mot[key].shape != ref[key].shape or not np.array_equal(mot[key], ref[key]):
            fails.append(f"{key}: mot {mot[key].tolist()} ref {ref[key].tolist()}")
    for t in TERMS:
        key = f"loss.{t}"
        if key not in mot:
            fails.append(f"{key}: missing in mot's dump")
            continue
        r, m = float(ref[key].reshape(-1)[0]), float(np.asarray(mot[key], np.float64).reshape(-1)[0])
        err = abs(m - r) / max(abs(r), LOSS_FLOOR)
        if not err <= LOSS_TOL:
            fails.append(f"{key}: mot {m:.9g} ref {r:.9g} (error {err:.2e} > {LOSS_TOL:g})")
    names = sorted({k.split(".", 2)[2] for k in ref if k.startswith("grad.total.")})
    extra = sorted(k for k in mot if k not in ref)
    if extra:
        print(f"note: mot's dump has {len(extra)} names the reference has not: {extra[:5]}")
    term_max = {t: max(float(np.abs(ref[f"grad.{t}.{n}"]).max()) for n in names) for t in TERMS}
    worst = {t: (0.0, None) for t in TERMS}
    for t in TERMS:
        # a whole term at roundoff level (L_con when both sets hold the same experts in
        # another order: keys concatenated differently round differently) counts as 0
        if term_max[t] <= ZERO_REL * term_max["total"]:
            term_max[t] = 0.0
        floor = ZERO_TOL * (term_max[t] if term_max[t] > 0 else term_max["total"])
        for n in names:
            key = f"grad.{t}.{n}"
            if key not in mot:
                fails.append(f"{n} {t}: missing in mot's dump")
                continue
            r = ref[key].astype(np.float64)
            m = np.asarray(mot[key], dtype=np.float64)
            if m.shape != r.shape:
                fails.append(f"{n} {t}: shape {list(m.shape)}, expected {list(r.shape)}")
                continue
            if not np.all(np.isfinite(m)):
                fails.append(f"{n} {t}: non-finite values")
                continue
            scale = float(np.abs(r).max())
            if scale <= ZERO_REL * term_max[t] or term_max[t] == 0:
                got = float(np.abs(m).max())
                if not got <= floor:
                    fails.append(f"{n} {t}: reference gradient is 0, mot's reaches {got:.3e} "
                                 f"(bound {floor:.3e})")
                continue
            err = float(np.abs(m - r).max()) / scale
            if err > worst[t][0]:
                worst[t] = (err, n)
            if not err <= GRAD_TOL:
                fails.append(f"{n} {t}: error {err:.3e} (max|ref| {scale:.3e})")
    print(f"compared {len(names)} tensors x {len(TERMS)} terms; worst error per term: " +
          ", ".join(f"{t} {e:.2e}" + (f" ({n})" if n else "") for t, (e, n) in worst.items()))
    return fails


def listener_pipeline(a, pipeline):
    """A copy of the pool's pipeline (absolute paths) whose graph is `mot graph`'s with the
    --listen edits: for q:E, E's forward projector moves from attention q's inputs to its
    listeners."""
    import yaml
    with open(pipeline) as fh:
        doc = yaml.safe_load(fh)
    base = os.path.dirname(pipeline)
    for e in doc["experts"]:
        e["path"] = os.path.normpath(os.path.join(base, e["path"]))
    doc["weights"] = os.path.normpath(os.path.join(base, doc["weights"]))
    plain = os.path.join(a.work, "pipeline.yaml")
    with open(plain, "w") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False, default_flow_style=None)
    doc = yaml.safe_load(tc.run([a.mot, "graph", plain], "mot graph"))
    listen = {int(q): e for q, e in (item.split(":") for item in a.listen.split(","))}
    for n in doc["graph"]:
        if n["kind"] == "attention" and int(n["stack"]) in listen:
            lid = f"{listen[int(n['stack'])]}/forward{n['stack']}"
            if lid not in n["inputs"]:
                sys.exit(f"FAIL: --listen: {lid} is not an input of {n['id']}")
            n["inputs"] = [i for i in n["inputs"] if i != lid]
            n["listeners"] = [lid]
    out = os.path.join(a.work, "pipeline.listen.yaml")
    with open(out, "w") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False, default_flow_style=None)
    print(f"listeners {listen}: {out}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="mot train --grad-dump vs train_ref.py grads")
    tc.common_args(ap)
    ap.add_argument("--listen", help="Q:EXPERT,...: that expert only listens at attention Q")
    ap.add_argument("--backend", choices=["cpu", "cuda"], default="cpu",
                    help="where mot's passes run (cuda: skipped, exit 77, without an NVIDIA device)")
    ap.add_argument("--l-route", default="0",
                    help="L_route's weight for both (mot's routing supervision; 0: SPEC 5's loss)")
    a = ap.parse_args(argv)
    a.pool, a.work = os.path.abspath(a.pool), os.path.abspath(a.work)
    backend_bounds.skip_without_cuda(a.backend)
    if not a.mot and (not a.ref_only or a.listen):
        ap.error("--mot is required (or --ref-only, without --listen)")
    pipeline, data, noise, _ = tc.setup(a, steps=1)
    plain = pipeline
    if a.listen:
        pipeline = listener_pipeline(a, pipeline)
    ref_path = os.path.join(a.work, "ref.safetensors")
    print(tc.run([tc.PY, tc.TRAIN_REF, "grads", pipeline, "--data", data, "--noise", noise,
                  "--batch", a.batch, "--l-route", a.l_route, "--out", ref_path],
                 "train_ref.py grads").strip())
    if a.ref_only:
        print(f"reference written: {ref_path}")
        return 0
    mot_path = os.path.join(a.work, "mot.safetensors")
    tc.run([a.mot, "train", pipeline, "--data", data, "--noise", noise, "--batch", a.batch,
            "--dropout", "0", "--l-route", a.l_route, "--grad-dump", mot_path, "--backend", a.backend],
           "mot train --grad-dump")
    fails = compare(read_safetensors(mot_path), read_safetensors(ref_path))
    for line in fails:
        print("FAIL", line)
    print(f"{'FAIL' if fails else 'ok'}: {a.scenario} batch {a.batch}: {len(fails)} failures")
    if a.listen and not fails:
        # the edit must matter: mot's gradients against the unedited graph's reference differ
        plain_ref = os.path.join(a.work, "ref.unedited.safetensors")
        tc.run([tc.PY, tc.TRAIN_REF, "grads", plain, "--data", data, "--noise", noise,
                "--batch", a.batch, "--out", plain_ref], "train_ref.py grads (unedited)")
        print("-- against the unedited graph (expected to differ):")
        differ = compare(read_safetensors(mot_path), read_safetensors(plain_ref))
        print(f"{len(differ)} tensors differ, e.g. {differ[:2]}")
        if not differ:
            print("FAIL: mot's gradients also match the unedited graph: the listeners did not run")
            return 1
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
