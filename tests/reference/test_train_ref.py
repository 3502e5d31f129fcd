#!/usr/bin/python3
"""Self-checks of train_ref.py (the float64 training reference, SPEC 5). Needs no mot binary.

    test_train_ref.py WORK_DIR [CASE...]     (cases: forward fd con adamw schedule; default all)

- forward: with no noise the routed set is MotRef's; with gates of value 1 the training
  forward's primary logits equal MotRef.recompute's (n_prompt = R_m: the whole-sequence
  prefill mask) on every completion row, and L_LM equals the NLL taken from those logits.
- fd: central finite differences (float64) of every loss term against autograd, on the
  straight-through surrogate (hard sets and stop-gradient values held at the base point).
- con: with g1 == g0 the sets agree, L_con is 0 and so is its gradient.
- adamw: TrainRef.adamw (torch.optim.AdamW, clip_grad_norm_, the cosine schedule) equals a
  hand-written AdamW loop over 3 steps.
- schedule: lr_multiplier against hand-computed values of HF's cosine-with-warmup.
"""
import math
import os
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import mot_ref  # noqa: E402
import train_ref as T  # noqa: E402

PY = sys.executable
MAKE_POOL = os.path.join(ROOT, "tests", "tools", "make_mot_pool.py")
MAKE_DATA = os.path.join(ROOT, "tests", "train", "make_train_data.py")


def expect(ok, what):
    if not ok:
        raise AssertionError(what)


def pool(work, scenario):
    out = subprocess.run([PY, MAKE_POOL, os.path.join(work, "pool"), "--scenario", scenario],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def data(work, n=6, seed=3):
    path = os.path.join(work, f"data-{n}-{seed}.jsonl")
    subprocess.run([PY, MAKE_DATA, path, "--n", str(n), "--seed", str(seed)], check=True)
    return T.read_jsonl(path)


def steer_noise(tr, examples, orders, jitter=0.05, seed=0):
    """Noise [B, M] that makes set b's ranking follow orders[b] (a full permutation of the
    experts, best first) with unit gaps, plus a little jitter so nothing is symmetric."""
    gen = torch.Generator().manual_seed(seed)
    M, out = tr.M, []
    with torch.no_grad():
        for (prompt, _), order in zip(examples, orders):
            s = tr.ref.router_scores(prompt)
            target = torch.zeros(M, dtype=torch.float64)
            for rank, m in enumerate(order):
                target[m] = float(M - rank)
            out.append(target - s + jitter * torch.rand(M, generator=gen, dtype=torch.float64))
    return torch.stack(out)


# ---- cases ----

def case_forward(work):
    """Training forward (gates 1, no noise) == MotRef.recompute on every completion row."""
    full = {}
    orig = mot_ref.ExpertRun.logits

    def capture(self):
        rows = orig(self)
        full[id(self.model)] = rows
        return rows
    for scenario in ("uniform_q3", "explicit", "norm_bias"):
        tr = T.TrainRef.load(pool(work, scenario))
        ex = data(work, n=5, seed=11)
        zero = torch.zeros(len(ex), tr.M, dtype=torch.float64)
        with torch.no_grad():
            out = tr.loss(ex, zero, zero)
        nll, count = 0.0, 0
        for b, (prompt, completion) in enumerate(ex):
            active = tr.ref.select_active(tr.ref.router_scores(prompt))
            expect(out["active0"][b] == active, f"{scenario}: set {out['active0'][b]} != {active}")
            seqs = {m: tr.tokens(m, prompt, completion) for m in active}
            ones = {m: torch.ones((), dtype=torch.float64) for m in active}
            with torch.no_grad():
                mine = tr.primary_logits(active, seqs, ones)
                mot_ref.ExpertRun.logits = capture
                try:
                    tr.ref.recompute(active, {m: seqs[m][0] for m in active},
                                     {m: len(seqs[m][0]) for m in active})
                finally:
                    mot_ref.ExpertRun.logits = orig
            p = active[0]
            tokens, n_p = seqs[p]
            theirs = full[id(tr.ref.experts[p])][n_p - 1:len(tokens) - 1]
            expect(mine.shape == theirs.shape and mine.shape[0] == len(tokens) - n_p,
                   f"{scenario}: shapes {tuple(mine.shape)} {tuple(theirs.shape)}")
            err = float((mine - theirs).abs().max() / theirs.abs().max())
            expect(err < 1e-12, f"{scenario} example {b}: logits differ from recompute by {err:.2e}")
            lp = torch.log_softmax(theirs, dim=-1)
            nll -= float(lp.gather(1, torch.as_tensor(tokens[n_p:])[:, None]).sum())
            count += len(tokens) - n_p
        expect(out["T"] == count, f"{scenario}: T {out['T']} != {count}")
        expect(abs(float(out["lm"]) - nll / count) < 1e-12 * nll,
               f"{scenario}: L_LM {float(out['lm'])} != {nll / count}")
        print(f"  forward {scenario}: {len(ex)} examples, {count} tokens, L_LM {nll / count:.6f}")


FD_TENSORS = ["router.fc1.weight", "router.fc1.bias", "router.fc2.weight", "router.fc2.bias",
              "interaction.0.forward.a.weight", "interaction.0.forward.c.bias",
              "interaction.1.reverse.a.weight", "interaction.0.reverse.b.bias",
              "interaction.0.attn.q_proj.weight", "interaction.1.attn.k_proj.weight",
              "interaction.0.attn.v_proj.bias", "interaction.1.attn.o_proj.weight",
              "interaction.0.norm.weight", "interaction.1.norm.bias"]


def case_fd(work):
    """Central differences of each weighted term at its largest-gradient entries."""
    # K = 2 of 3, layernorm, every bias; L_route on (mot's routing supervision)
    tr = T.TrainRef.load(pool(work, "norm_bias"), l_route=0.5)
    ex = data(work, n=3, seed=5)
    # example 0: same primary, different second expert (L_con acts); example 1: different
    # primaries (L_con ignores it); example 2: same set in both
    # (expert 0 is in set 0 three times, 1 twice, 2 once: L_bal's std is not 0)
    g0 = steer_noise(tr, ex, [[0, 1, 2], [2, 0, 1], [1, 0, 2]], seed=1)
    g1 = steer_noise(tr, ex, [[0, 2, 1], [1, 0, 2], [1, 0, 2]], seed=2)
    out, grads = tr.grads(ex, g0, g1)
    expect(out["active0"] == [[0, 1], [2, 0], [1, 0]] and out["active1"] == [[0, 2], [1, 0], [1, 0]],
           f"steered sets came out {out['active0']} {out['active1']}")
    expect(float(out["con"]) > 0, "L_con is 0 on a batch with a differing second expert")
    frozen = out["frozen"]

    def terms():
        with torch.no_grad():
            o = tr.loss(ex, g0, g1, frozen=frozen)
        w = tr.weighted(o)
        return {t: float(w[t]) for t in T.TERMS}

    base = terms()
    for t in T.TERMS:
        expect(abs(base[t] - float(tr.weighted(out)[t])) == 0, f"frozen loss differs in {t}")
    h, worst, n_checks = 1e-5, 0.0, 0
    # a tensor whose gradient is (near) 0 is held to 1e-3 of the term's largest gradient
    # anywhere, i.e. an absolute 1e-9 of it (finite differences' roundoff is ~1e-11 here)
    term_max = {t: max(float(g.abs().max()) for g in grads[t].values()) for t in T.TERMS}
    for name in FD_TENSORS:
        entries = set()
        for t in T.TERMS:
            g = grads[t][name]
            if float(g.abs().max()) > 0:
                entries.add(int(g.abs().argmax()))
        entries.add(0)
        p = tr.params[name]
        for idx in sorted(entries):
            with torch.no_grad():
                flat = p.view(-1)
                keep = float(flat[idx])
                flat[idx] = keep + h
                up = terms()
                flat[idx] = keep - h
                down = terms()
                flat[idx] = keep
            for t in T.TERMS:
                fd = (up[t] - down[t]) / (2 * h)
                ad = float(grads[t][name].view(-1)[idx])
                scale = max(float(grads[t][name].abs().max()), 1e-3 * term_max[t])
                err = abs(fd - ad) / scale
                worst = max(worst, err)
                n_checks += 1
                expect(err <= 1e-6, f"{name}[{idx}] {t}: autograd {ad:.10e} fd {fd:.10e} "
                                    f"(error {err:.2e} of the tensor's max)")
    total = sum(grads[t][n] for t in T.TERMS for n in [FD_TENSORS[0]])
    expect(float((total - grads["total"][FD_TENSORS[0]]).abs().max()) < 1e-15,
           "grad.total is not the sum of the weighted terms")
    print(f"  fd: {n_checks} entry/term checks, worst error {worst:.2e} of the tensor's max")


def case_con(work):
    tr = T.TrainRef.load(pool(work, "norm_bias"))
    ex = data(work, n=4, seed=7)
    g = torch.as_tensor(T.make_noise(1, len(ex), tr.M, 4)["gumbel0"][0], dtype=torch.float64)
    out, grads = tr.grads(ex, g, g.clone())
    expect(out["active0"] == out["active1"], "equal noise gave different sets")
    expect(float(out["con"]) == 0.0, f"L_con {float(out['con'])} with g1 == g0")
    worst = max(float(v.abs().max()) for v in grads["con"].values())
    expect(worst == 0.0, f"grad.con reaches {worst:.2e} with g1 == g0")
    print(f"  con: 0 with g1 == g0 (sets {out['active0']})")


def hand_adamw(tr, examples, g0, g1, batch, steps, lr, warmup):
    """AdamW written out: clip at global norm 1, decoupled decay on matrices, bias-corrected
    moments, HF cosine schedule (hand-computed, not lr_multiplier)."""
    b1, b2, eps, wd = 0.9, 0.999, 1e-8, 0.01
    theta = {k: v.detach().clone() for k, v in tr.params.items()}
    m = {k: torch.zeros_like(v) for k, v in theta.items()}
    v2 = {k: torch.zeros_like(v) for k, v in theta.items()}
    clipped = []
    for s in range(steps):
        mult = s / warmup if s < warmup else \
            0.5 * (1 + math.cos(math.pi * (s - warmup) / (steps - warmup)))
        with torch.no_grad():
            for k in theta:
                tr.params[k].copy_(theta[k])
        ex = [examples[(s * batch + i) % len(examples)] for i in range(batch)]
        loss = tr.loss(ex, g0[s], g1[s])["total"]
        names = list(theta)
        gs = torch.autograd.grad(loss, [tr.params[k] for k in names], allow_unused=True)
        g = {k: (x if x is not None else torch.zeros_like(theta[k])) for k, x in zip(names, gs)}
        norm = math.sqrt(sum(float((x * x).sum()) for x in g.values()))
        coef = 1.0 / (norm + 1e-6)
        clipped.append(coef < 1)
        if coef < 1:
            g = {k: x * coef for k, x in g.items()}
        lr_s = lr * mult
        t = s + 1
        for k in names:
            if theta[k].dim() >= 2:
                theta[k] = theta[k] * (1 - lr_s * wd)
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v2[k] = b2 * v2[k] + (1 - b2) * g[k] * g[k]
            mh = m[k] / (1 - b1 ** t)
            vh = v2[k] / (1 - b2 ** t)
            theta[k] = theta[k] - lr_s * mh / (vh.sqrt() + eps)
    return theta, clipped


def case_adamw(work):
    path = pool(work, "norm_bias")
    ex = data(work, n=3, seed=9)
    steps, batch, lr = 3, 2, 1e-2
    noise = T.make_noise(steps, batch, 3, 21)
    g0, g1 = (torch.as_tensor(noise[k], dtype=torch.float64) for k in ("gumbel0", "gumbel1"))
    for warmup in (0, 1):
        tr = T.TrainRef.load(path)
        start = {k: v.detach().clone() for k, v in tr.params.items()}
        mine = {k: v.detach().clone() for k, v in tr.adamw(ex, g0, g1, batch, steps, lr, warmup).items()}
        theirs, clipped = hand_adamw(T.TrainRef.load(path), ex, g0, g1, batch, steps, lr, warmup)
        # Elements whose gradient is mathematically 0 (e.g. k_proj.bias: softmax ignores a
        # constant per query row) get f64 roundoff as gradient, which Adam blows up to
        # up to +-lr: the per-element bound of adamw_delta_bound with a gradient error of
        # 1e-12 (roundoff-level; a zero gradient's roundoff is ~1e-16 of the largest).
        bound = T.adamw_delta_bound(T.adamw_history(T.TrainRef.load(path), ex, g0, g1, batch,
                                                    steps, lr, warmup), 1e-12, zero_floor=1e-3)
        worst, noisy = 0.0, 0
        for k in mine:
            d_mine, d_theirs = mine[k] - start[k], theirs[k] - start[k]
            diff = (d_mine - d_theirs).abs()
            bad = diff > bound[k] + 1e-15
            expect(not bool(bad.any()), f"warmup {warmup}: {k}: AdamW deltas differ by "
                   f"{float(diff.max()):.2e} (bound {float(bound[k].view(-1)[int(diff.argmax())]):.2e})")
            noisy += int((bound[k] > 1e-6 * lr).sum())
            if float(d_theirs.abs().max()) > 0.1 * lr:      # tensors that really moved
                worst = max(worst, float(diff.max()) / float(d_theirs.abs().max()))
        moved = max(float((mine[k] - start[k]).abs().max()) for k in mine)
        expect(moved > 1e-3, f"warmup {warmup}: the weights hardly moved ({moved:.2e})")
        print(f"  adamw warmup {warmup}: 3 steps, clipping at steps {[i for i, c in enumerate(clipped) if c]}, "
              f"worst delta error {worst:.2e} of max|delta| (tensors that moved), "
              f"{noisy} elements with a loose (gradient ~ 0) bound")


def case_schedule(work):
    want = {(0, 2, 3): 0.0, (1, 2, 3): 0.5, (2, 2, 3): 1.0, (0, 0, 3): 1.0, (1, 0, 3): 0.75,
            (2, 0, 3): 0.25, (5, 4, 10): 0.5 * (1 + math.cos(math.pi / 6))}
    for (step, warmup, total), value in want.items():
        got = T.lr_multiplier(step, warmup, total)
        expect(abs(got - value) < 1e-15, f"lr_multiplier({step}, {warmup}, {total}) = {got}, want {value}")
    print("  schedule: HF cosine-with-warmup values")


CASES = {"forward": case_forward, "fd": case_fd, "con": case_con, "adamw": case_adamw,
         "schedule": case_schedule}


def main(argv):
    if not argv:
        sys.exit(__doc__)
    work = os.path.abspath(argv[0])
    os.makedirs(work, exist_ok=True)
    names = argv[1:] or list(CASES)
    failed = 0
    for name in names:
        t0 = time.time()
        try:
            CASES[name](work)
            print(f"ok {name} ({time.time() - t0:.1f} s)")
        except AssertionError as e:
            failed += 1
            print(f"FAIL {name}: {e}")
    print(f"{len(names) - failed}/{len(names)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
