#!/usr/bin/python3
"""mot's optimizer (AdamW, clipping, warm-up + cosine) against the float64 reference.

    test_train_adamw.py --mot MOT --pool DIR --scenario NAME --work DIR [--batch B]
                        [--steps 3] [--lr 1e-3] [--warmup 2] [--grad-eps 1e-4] [--ref-only]

Builds pool, data and noise as test_train_grads.py does (noise for --steps steps), runs

    MOT train PIPE --data D --noise N --batch B --steps S --lr LR --warmup W --no-shuffle
        --dropout 0 -o WORK/mot.safetensors

and train_ref's AdamW (TrainRef.adamw: torch.optim.AdamW with clip_grad_norm_ and HF's
cosine schedule), and compares the weight deltas (after - the pipeline's initial weights)
element by element.

The bound. mot's gradients may differ from the reference's by grad-eps (1e-4, SPEC 5)
relative to each tensor's largest gradient. Adam's step is lr * m_hat / (sqrt(v_hat) + eps):
a gradient error dg moves it by up to lr * dg * (1 + |u|) / sqrt(v_hat) (u the reference's
m_hat / sqrt(v_hat)). Where an element's gradient is comparable to its tensor's largest,
that is ~1e-4 of the step; where it is near 0 (or 0 up to roundoff: attn.k_proj.bias, whose
gradient is mathematically 0), dg / sqrt(v_hat) is unbounded and Adam turns noise into a
step of up to +-lr in a random direction -- only |u_ref| + |u_mot| <= 2 (|u_ref| + 1) bounds
it. So no single max|dmot - dref| / max|dref| threshold is both safe and sharp; each element
gets train_ref.adamw_delta_bound's sum over steps of lr_s * min(4 dg (1 + |u|) /
(sqrt(v_hat) + eps), 2 (|u| + 1)) (4: room for the clip coefficient's own error and for
weights that already differ changing the next gradient), plus 4 f32 spacings of the weight
(mot's file is f32 and mot updates in f32). The per-tensor max|dmot - dref| / max|dref| is
printed too. Note: step 0 of a warm-up runs at lr 0 (HF's schedule), so with --warmup 2 and
3 steps the weights move at steps 1 and 2 only; weight decay (lr * 0.01 * |w|, ~1% of a
step) sits inside the bound of most elements, so this checks it only loosely.
Prints one line per failing tensor and a summary; exits 1 on any failure.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_common as tc  # noqa: E402
import train_ref as T  # noqa: E402
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

SAFETY, ULPS = 4.0, 4.0


def main(argv=None):
    ap = argparse.ArgumentParser(description="mot train (3 AdamW steps) vs train_ref adamw")
    tc.common_args(ap)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--grad-eps", type=float, default=1e-4)
    a = ap.parse_args(argv)
    a.pool, a.work = os.path.abspath(a.pool), os.path.abspath(a.work)
    if not a.mot and not a.ref_only:
        ap.error("--mot is required (or --ref-only)")
    pipeline, data, noise, _ = tc.setup(a, steps=a.steps)

    tr = T.TrainRef.load(pipeline)
    start = {k: v.detach().clone() for k, v in tr.params.items()}
    g0, g1 = T.read_noise(noise)
    hist = T.adamw_history(tr, T.read_jsonl(data), g0, g1, a.batch, a.steps, a.lr, a.warmup)
    after = {k: v.detach() for k, v in tr.params.items()}
    ref_path = os.path.join(a.work, "ref.safetensors")
    write_safetensors(ref_path, {k: v.numpy().astype(np.float32) for k, v in after.items()})
    bound = T.adamw_delta_bound(hist, a.grad_eps, safety=SAFETY)
    print(f"reference: {a.steps} steps, lr per step {[h['lr'] for h in hist]}")
    if a.ref_only:
        print(f"reference written: {ref_path}")
        return 0

    mot_path = os.path.join(a.work, "mot.safetensors")
    tc.run([a.mot, "train", pipeline, "--data", data, "--noise", noise, "--batch", a.batch,
            "--steps", a.steps, "--lr", a.lr, "--warmup", a.warmup, "--no-shuffle",
            "--dropout", "0", "-o", mot_path], "mot train")
    mot = read_safetensors(mot_path)
    fails, worst, loose = [], (0.0, None), 0
    for name in start:
        if name not in mot:
            fails.append(f"{name}: missing in mot's weights")
            continue
        m = torch.as_tensor(np.asarray(mot[name], dtype=np.float64))
        if tuple(m.shape) != tuple(start[name].shape):
            fails.append(f"{name}: shape {list(m.shape)}, expected {list(start[name].shape)}")
            continue
        d_mot, d_ref = m - start[name], after[name] - start[name]
        ulp = torch.as_tensor(np.spacing(np.abs(after[name].numpy()).astype(np.float32)),
                              dtype=torch.float64)
        b = bound[name] + ULPS * ulp
        diff = (d_mot - d_ref).abs()
        rel = float(diff.max()) / max(float(d_ref.abs().max()), 1e-30)
        loose += int((bound[name] > 0.1 * a.lr).sum())
        if rel > worst[0] and float(d_ref.abs().max()) > 0.1 * a.lr:   # tensors that moved
            worst = (rel, name)
        over = diff > b
        if not torch.isfinite(m).all():
            fails.append(f"{name}: non-finite weights")
        elif bool(over.any()):
            i = int((diff / b).argmax())
            fails.append(f"{name}: {int(over.sum())} elements past their bound; worst [{i}] "
                         f"dmot {float(d_mot.view(-1)[i]):.4e} dref {float(d_ref.view(-1)[i]):.4e} "
                         f"bound {float(b.view(-1)[i]):.2e}; max|dmot-dref|/max|dref| {rel:.2e}")
    extra = sorted(set(mot) - set(start))
    if extra:
        fails.append(f"mot's weights file has tensors the pipeline's has not: {extra[:5]}")
    print(f"compared {len(start)} tensors; worst max|dmot-dref|/max|dref| of a tensor that "
          f"moved {worst[0]:.2e} "
          f"({worst[1]}); {loose} elements with a loose (gradient ~ 0) bound")
    for line in fails:
        print("FAIL", line)
    print(f"{'FAIL' if fails else 'ok'}: {a.scenario} batch {a.batch}, {a.steps} steps: "
          f"{len(fails)} failures")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
