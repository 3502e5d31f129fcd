#!/usr/bin/python3
"""An independent float64 reference of mot's training step (SPEC.md section 5).

Written from the SPEC, not from the C code. It builds on mot_ref.py (the inference
reference): the experts are its float64 LlamaRef runs, the interaction layers its
forward_projection / attention / reverse_projection, the router its router_scores; this
module adds the training data's tokens, the straight-through gates, the joint loss and
AdamW. Every tensor of the MoT weights file (router.*, interaction.*) is a float64 leaf
with requires_grad; the experts are frozen; gradients come from autograd.

    tr = TrainRef.load("pipeline.yaml")
    ex = read_jsonl("data.jsonl")
    out = tr.loss(ex[:2], g0, g1)          # g0, g1 float64 [B, M]
    out["total"].backward()

CLI (module doc of each sub-command: main()):
    train_ref.py grads PIPE.yaml --data D.jsonl --noise N.safetensors --batch B [--weights W]
                 [--tau T] [--l-ent X] [--l-bal X] [--l-con X] [--l-route X] --out OUT.safetensors
    train_ref.py adamw PIPE.yaml --data D.jsonl --noise N.safetensors --batch B --steps S
                 --lr LR --warmup W [...] --out OUT.safetensors
    train_ref.py noise --steps S --batch B --experts M --seed X --out N.safetensors
grads and adamw take --dtype float64|float32 (float64, the default, is the reference; float32
runs the same graph with every tensor in float32: a PyTorch f32 baseline for benchmarks,
tests/train/bench_train.py).

Decisions where the SPEC leaves room (written into docs/training.md too):
- The completion is tokenized on its own, `tok.encode(completion, add_special_tokens=False)`
  (no BOS, no EOS; the tokenizer's normalizer still runs, so a SentencePiece-style tokenizer
  that prepends U+2581 does so to the completion as well). Special-token text inside the
  completion (e.g. "</s>") becomes its id, which is how "no EOS unless the completion ends
  with the expert's EOS text" comes out.
- T (the token count dividing L_LM and L_con) is the batch's number of primary completion
  tokens under set 0; when T = 0 both terms are 0.
- L_con's per-token KL compares the primary's next-token distributions of set 0 and set 1
  over the same rows (both sets have the same primary, so the same tokens).
- Every trainable tensor has a gradient (zeros when nothing reaches it: an expert in neither
  set), so AdamW's weight decay and moment updates touch every tensor at every step.
- grads files hold float64 tensors.

L_route (mot's routing supervision, not in SPEC 5; docs/training.md): with l_route > 0 each
example's target t is the expert whose NLL of the completion alone (no interaction layer; the
sum over its completion tokens, in nats) is lowest, ties to the lower index, and
L_route = -mean over the batch of log softmax(s)[t] (s the router's scores, no noise, no tau).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mot_ref import MotRef, gguf_meta, top_k_indices  # noqa: E402
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

TERMS = ("lm", "ent", "bal", "con", "route")
DEFAULTS = dict(tau=1.0, l_ent=0.01, l_bal=0.01, l_con=0.05, l_route=0.0)
BETAS, ADAM_EPS, WEIGHT_DECAY, MAX_NORM = (0.9, 0.999), 1e-8, 0.01, 1.0


# ---- data ----

def read_jsonl(path):
    """-> [(prompt, completion)] in file order; ValueError naming the line when malformed."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: not JSON: {e}") from None
            if not isinstance(doc, dict) or not isinstance(doc.get("prompt"), str) or \
                    not isinstance(doc.get("completion"), str):
                raise ValueError(f"{path}:{i}: expected {{\"prompt\": str, \"completion\": str}}")
            out.append((doc["prompt"], doc["completion"]))
    if not out:
        raise ValueError(f"{path}: no examples")
    return out


def completion_tokens(model_dir, text):
    """The completion in expert model_dir's tokens: HF `tok.encode(text,
    add_special_tokens=False)`; for a GGUF expert its rebuilt tokenizer without BOS."""
    if model_dir.endswith(".gguf"):
        from gguf_tokenizer import tokenizer_for
        tok = tokenizer_for(gguf_meta(model_dir))
        ids = tok.encode(text)
        if tok.add_bos and tok.bos is not None:
            ids = ids[1:]                      # encode put exactly one BOS in front
        return ids
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    return tok.encode(text, add_special_tokens=False).ids


def batch_indices(step, batch, n):
    """SPEC-brief order: step s uses examples (s*B + i) mod N, i = 0..B-1."""
    return [(step * batch + i) % n for i in range(batch)]


# ---- LR schedule: HF get_cosine_schedule_with_warmup (num_cycles 0.5) ----

def lr_multiplier(step, warmup, total):
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


# ---- the training reference ----

def graph_speakers(ref):
    """A pipeline graph that is the expansion of its settings except that some experts only
    listen at some attentions (docs/pipeline.md: an attention's `listeners`) -> {q: the
    expert indices in attention q's inputs}. Any other graph: ValueError."""
    given = ref.pipe.graph
    ref.pipe.graph = None
    try:
        expanded = ref.graph()
    finally:
        ref.pipe.graph = given
    ids = {n["id"]: n for n in given}
    speakers, ok = {}, len(given) == len(expanded)
    for n, e in zip(given, expanded):
        n = dict(n)
        if n.get("kind") == "attention":
            speakers[int(n["stack"])] = {ref.pipe.index(ids[i]["expert"]) for i in n["inputs"]}
            both = list(n["inputs"]) + list(n.pop("listeners", []))
            n["inputs"] = sorted(both, key=lambda i: ref.pipe.index(ids[i]["expert"]))
        ok = ok and all(n.get(k) == v for k, v in e.items())
    if not ok:
        raise ValueError("train_ref follows the compact form's expansion (listeners allowed); "
                         "this pipeline has another graph")
    return speakers


class TrainRef:
    def __init__(self, ref, tau=1.0, l_ent=0.01, l_bal=0.01, l_con=0.05, l_route=0.0,
                 dtype=torch.float64, device=None):
        self.ref = ref
        self.tau, self.l_ent, self.l_bal, self.l_con = tau, l_ent, l_bal, l_con
        self.l_route = l_route
        self._targets = {}
        self.dtype = dtype
        if dtype != torch.float64 or device is not None:
            # the experts' frozen weights in the same dtype; on `device` (a timing run on a
            # GPU: the caller also makes it torch's default device, so the tensors the
            # forward creates land there too)
            for ex in ref.experts:
                ex.w = {k: v.to(device=device, dtype=dtype) for k, v in ex.w.items()}
            ref.w.t = {k: v.to(device=device, dtype=dtype) for k, v in ref.w.t.items()}
        # {q: the expert indices that speak at attention q}: all, unless the pipeline's graph
        # makes some listen (the only edit of the expansion this reference follows)
        self.speakers = graph_speakers(ref) if ref.pipe.graph is not None else {}
        # The trainable tensors: every tensor of the weights file, float64 leaves. MotRef's
        # pieces read them through ref.w.t, so they see the leaves.
        self.params = {k: v.detach().clone().requires_grad_(True) for k, v in ref.w.t.items()}
        ref.w.t = self.params
        self._tokens = {}

    @staticmethod
    def load(pipeline, weights=None, **kw):
        return TrainRef(MotRef.load(pipeline, weights), **kw)

    @property
    def M(self):
        return len(self.ref.pipe.names)

    def tokens(self, m, prompt, completion):
        """-> (sequence, N_m): expert m's template(prompt) tokens then the completion's."""
        key = (m, prompt, completion)
        if key not in self._tokens:
            p = self.ref.expert_prompt_tokens(m, prompt)
            c = completion_tokens(self.ref.pipe.experts[m]["dir"], completion)
            self._tokens[key] = (p + c, len(p))
        return self._tokens[key]

    def alone_nll(self, m, prompt, completion):
        """The completion's NLL in nats under expert m alone (every layer, no interaction)."""
        from mot_ref import ExpertRun
        tokens, n = self.tokens(m, prompt, completion)
        with torch.no_grad():
            logp = torch.log_softmax(ExpertRun(self.ref.experts[m], tokens).logits(), dim=-1)
        rows = torch.arange(n - 1, len(tokens) - 1)
        return -float(logp[rows, torch.as_tensor(tokens[n:], dtype=torch.long)].sum())

    def route_target(self, prompt, completion):
        """L_route's target: the expert best alone on the example (ties: the lower index)."""
        key = (prompt, completion)
        if key not in self._targets:
            nll = [self.alone_nll(m, prompt, completion) for m in range(self.M)]
            self._targets[key] = min(range(self.M), key=lambda m: (nll[m], m))
        return self._targets[key]

    # -- the teacher-forced forward of one routed set over whole sequences --
    def primary_logits(self, active, seqs, gates):
        """active [K] (primary first); seqs {m: (tokens, N_m)}; gates {m: scalar tensor}.
        -> the primary's logits rows N_p-1 .. R_p-2 ([R_p - N_p, V_p]): row r predicts
        token N_p + r. Mask: 1.4's prefill rule over the whole sequence (N_m = R_m)."""
        from mot_ref import ExpertRun
        ref, p = self.ref, active[0]
        runs = {m: ExpertRun(ref.experts[m], seqs[m][0]) for m in active}
        if self.dtype != torch.float64:   # ExpertRun builds rope and mask in float64
            for r in runs.values():
                r.cos, r.sin, r.mask = (t.to(self.dtype) for t in (r.cos, r.sin, r.mask))
        rows = {m: len(seqs[m][0]) for m in active}
        for q in range(ref.pipe.stacks):
            for m in active:
                runs[m].run_through(ref.ends[m][q])
            proj = {}
            for m in active:
                z, n, k, v = ref.forward_projection(q, m, runs[m])
                proj[m] = (z, n, k, v * gates[m])
            o = ref.attention(q, active, runs, proj, rows, self.speakers.get(q))
            for m in active:
                ref.reverse_projection(q, m, runs[m], o if m == p else proj[m][0])
        run = runs[p]
        run.run_through(ref.experts[p].cfg.n_layers - 1)
        tokens, n_p = seqs[p]
        c, w = ref.experts[p].cfg, ref.experts[p].w
        head = w["model.embed_tokens.weight"] if c.tied else w["lm_head.weight"]
        return run.final_hidden()[n_p - 1:len(tokens) - 1] @ head.T

    def route(self, s, g, frozen_set=None, frozen_pi=None):
        """s [M] router scores, g [M] noise -> (active set, pi, gates {m: tensor}).
        frozen_*: the hard set and the stop-gradient pi values to use instead of those of
        the current s (finite-difference checks differentiate the straight-through
        surrogate with those held fixed)."""
        s_noisy = (s + g) / self.tau
        active = frozen_set if frozen_set is not None else \
            top_k_indices(s_noisy.detach(), self.ref.pipe.top_k)
        pi = torch.softmax(s_noisy, dim=0)
        stop = frozen_pi if frozen_pi is not None else pi.detach()
        gates = {m: 1.0 + pi[m] - stop[m] for m in active}
        return active, pi, stop, gates

    def loss(self, examples, g0, g1, frozen=None):
        """examples [(prompt, completion)] (B of them); g0, g1 [B, M] float64 tensors.
        -> dict: lm, ent, bal, con (unweighted), total (weighted sum), active0, active1
        ([B][K]), T, and 'frozen' (the hard sets and stop-gradient values used, to pass back
        in for a finite-difference check)."""
        M = self.M
        g0, g1 = (torch.as_tensor(g, dtype=self.dtype) for g in (g0, g1))
        lp_tok = []                  # per example: log-probs of set 0's completion tokens
        ent, ind, con_sum, T = [], [], 0.0, 0
        route, targets_b = [], []
        act0, act1, fz = [], [], {"set0": [], "set1": [], "pi0": [], "pi1": []}
        for b, (prompt, completion) in enumerate(examples):
            s = self.ref.router_scores(prompt)                               # [M]
            logp_plain = torch.log_softmax(s / self.tau, dim=0)
            ent.append(-(logp_plain.exp() * logp_plain).sum())               # H in nats
            if self.l_route:
                t = self.route_target(prompt, completion)
                targets_b.append(t)
                route.append(-torch.log_softmax(s, dim=0)[t])
            f = (lambda key: frozen[key][b]) if frozen else (lambda key: None)
            a0, pi0, stop0, gates0 = self.route(s, g0[b], f("set0"), f("pi0"))
            a1, pi1, stop1, gates1 = self.route(s, g1[b], f("set1"), f("pi1"))
            act0.append(a0)
            act1.append(a1)
            for key, val in (("set0", a0), ("set1", a1), ("pi0", stop0), ("pi1", stop1)):
                fz[key].append(val)
            hard = torch.zeros(M, dtype=self.dtype)
            hard[a0] = 1.0
            ind.append(hard + pi0 - stop0)
            seqs = {m: self.tokens(m, prompt, completion) for m in set(a0) | set(a1)}
            p = a0[0]
            targets = torch.as_tensor(seqs[p][0][seqs[p][1]:], dtype=torch.long)
            T += len(targets)
            if len(targets) == 0:
                continue
            logp0 = torch.log_softmax(self.primary_logits(a0, seqs, gates0), dim=-1)
            lp_tok.append(logp0.gather(1, targets[:, None])[:, 0])
            if a1[0] == p:
                logp1 = torch.log_softmax(self.primary_logits(a1, seqs, gates1), dim=-1)
                kl01 = (logp0.exp() * (logp0 - logp1)).sum(dim=-1)
                kl10 = (logp1.exp() * (logp1 - logp0)).sum(dim=-1)
                con_sum = con_sum + ((kl01 + kl10) / 2).sum()
        zero = torch.zeros((), dtype=self.dtype)
        lm = -torch.cat(lp_tok).sum() / T if T else zero
        con = con_sum / T if T and torch.is_tensor(con_sum) else zero
        ent = -torch.stack(ent).mean()
        f = torch.stack(ind).mean(dim=0)                                      # [M]
        # (std/mean)^2 as variance / mean^2: the same value, and a gradient (0) where every
        # expert is equally often active (std's own gradient is 0/0 there)
        bal = ((f - f.mean()) ** 2).mean() / f.mean() ** 2
        route = torch.stack(route).mean() if route else zero
        total = lm + self.l_ent * ent + self.l_bal * bal + self.l_con * con + self.l_route * route
        return dict(lm=lm, ent=ent, bal=bal, con=con, route=route, total=total, active0=act0,
                    active1=act1, T=T, frozen=fz, targets=targets_b)

    def weighted(self, out):
        return {"lm": out["lm"], "ent": self.l_ent * out["ent"], "bal": self.l_bal * out["bal"],
                "con": self.l_con * out["con"], "route": self.l_route * out["route"]}

    def grads(self, examples, g0, g1):
        """-> (loss dict, {term: {name: float64 gradient}}) for term in total + TERMS; each
        term's gradient is that of its weighted contribution to L."""
        out = self.loss(examples, g0, g1)
        names = list(self.params)
        leaves = [self.params[n] for n in names]
        parts = dict(total=out["total"], **self.weighted(out))
        grads = {}
        for term, value in parts.items():
            if value.requires_grad:
                gs = torch.autograd.grad(value, leaves, allow_unused=True, retain_graph=True)
            else:
                gs = [None] * len(leaves)
            grads[term] = {n: (g.detach().clone() if g is not None else torch.zeros_like(leaf))
                           for n, g, leaf in zip(names, gs, leaves)}
        return out, grads

    # -- AdamW (torch.optim.AdamW + clip_grad_norm_ + HF cosine schedule) --
    def adamw(self, data, noise0, noise1, batch, steps, lr, warmup, on_step=None):
        """Runs `steps` optimizer steps in place on self.params. noise0/1 [S, B, M].
        on_step(step, lr_used, loss dict, optimizer) after each update, when given (the
        tests' hook): every leaf's .grad still holds the clipped gradient that step used."""
        matrices = [p for p in self.params.values() if p.dim() >= 2]
        vectors = [p for p in self.params.values() if p.dim() < 2]
        opt = torch.optim.AdamW([dict(params=matrices, weight_decay=WEIGHT_DECAY),
                                 dict(params=vectors, weight_decay=0.0)], lr=lr, betas=BETAS,
                                eps=ADAM_EPS, foreach=False)
        leaves = list(self.params.values())
        for step in range(steps):
            ex = [data[i] for i in batch_indices(step, batch, len(data))]
            opt.zero_grad(set_to_none=False)
            out = self.loss(ex, noise0[step], noise1[step])
            if out["total"].requires_grad:
                out["total"].backward()
            for p in leaves:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            torch.nn.utils.clip_grad_norm_(leaves, MAX_NORM)
            lr_now = lr * lr_multiplier(step, warmup, steps)
            for group in opt.param_groups:
                group["lr"] = lr_now
            opt.step()
            if on_step:
                on_step(step, lr_now, out, opt)
        return self.params


# ---- how far another AdamW may drift from this one ----

def adamw_history(tr, data, noise0, noise1, batch, steps, lr, warmup):
    """Runs tr.adamw and records, per step: lr, the clipped gradients, the bias-corrected
    second moment v_hat and the update direction u = m_hat / (sqrt(v_hat) + eps)."""
    hist = []
    names = list(tr.params)

    def record(step, lr_now, out, opt):
        t = step + 1
        rec = dict(lr=lr_now, g={}, vhat={}, u={})
        for n in names:
            p = tr.params[n]
            st = opt.state[p]
            mhat = st["exp_avg"] / (1 - BETAS[0] ** t)
            vhat = st["exp_avg_sq"] / (1 - BETAS[1] ** t)
            rec["g"][n] = p.grad.detach().clone()
            rec["vhat"][n] = vhat.clone()
            rec["u"][n] = mhat / (vhat.sqrt() + ADAM_EPS)
        hist.append(rec)
    tr.adamw(data, noise0, noise1, batch, steps, lr, warmup, on_step=record)
    return hist


def adamw_delta_bound(hist, grad_eps, safety=4.0, zero_floor=1e-6):
    """{name: per-element bound on |delta_other - delta_ref|} for an AdamW run whose
    gradients are within grad_eps of the reference's (relative to each tensor's max, the
    SPEC 5 contract; a tensor whose gradient is 0 is held to zero_floor x the largest
    gradient anywhere). Adam divides by sqrt(v_hat): a gradient error dg moves m_hat by up
    to dg and sqrt(v_hat) by up to dg, so the direction u = m_hat / sqrt(v_hat) moves by up
    to dg (1 + |u|) / sqrt(v_hat) -- tiny where the element's gradient is large, unbounded
    where it is ~0 (then only |u_ref| + |u_other| <= 2 (|u_ref| + 1) bounds it). Errors of
    earlier steps stay in the moments, so each step uses the largest dg so far. safety
    covers the (1 + |u|) factor's growth, the clip coefficient's own error and second-order
    effects (weights that already differ change the next gradient)."""
    names = list(hist[0]["g"])
    bound = {n: torch.zeros_like(hist[0]["g"][n]) for n in names}
    dg = {n: 0.0 for n in names}
    for rec in hist:
        g_all = max(float(rec["g"][n].abs().max()) for n in names)
        for n in names:
            g_t = float(rec["g"][n].abs().max())
            # a gradient that is 0 in exact arithmetic (k_proj.bias: the softmax ignores a
            # per-query constant) is held to what the gradient check allows it, zero_floor x the
            # largest gradient: f32 roundoff there, which Adam turns into steps of up to ~lr
            dg[n] = max(dg[n], zero_floor * g_all if g_t <= zero_floor * g_all else grad_eps * g_t)
            u = rec["u"][n].abs()
            drift = safety * dg[n] * (1 + u) / (rec["vhat"][n].sqrt() + ADAM_EPS)
            bound[n] += rec["lr"] * torch.minimum(drift, 2 * (u + 1))
    return bound


# ---- files ----

def read_noise(path):
    t = read_safetensors(path)
    for k in ("gumbel0", "gumbel1"):
        if k not in t or t[k].ndim != 3:
            raise ValueError(f"{path}: needs {k} of shape [S, B, M]")
    if t["gumbel0"].shape != t["gumbel1"].shape:
        raise ValueError(f"{path}: gumbel0 and gumbel1 differ in shape")
    return (torch.from_numpy(t["gumbel0"].astype(np.float64)),
            torch.from_numpy(t["gumbel1"].astype(np.float64)))


def make_noise(steps, batch, experts, seed):
    """Standard Gumbel noise -log(-log(u)), u uniform in (0, 1) (numpy's default_rng)."""
    rng = np.random.default_rng(seed)
    out = {}
    for k in ("gumbel0", "gumbel1"):
        u = rng.random((steps, batch, experts))
        u = np.clip(u, np.finfo(np.float64).tiny, 1.0 - 1e-16)
        out[k] = (-np.log(-np.log(u))).astype(np.float32)
    return out


def check_noise(g0, batch, M, steps=1):
    if g0.shape[0] < steps or g0.shape[1] != batch or g0.shape[2] != M:
        raise ValueError(f"noise has shape {list(g0.shape)}, needs [>= {steps}, {batch}, {M}]")


def grads_file(tr, out, grads):
    t = {f"loss.{k}": np.array([float(out[k])]) for k in ("total",) + TERMS}
    for term, gs in grads.items():
        for name, g in gs.items():
            t[f"grad.{term}.{name}"] = g.numpy().astype(np.float64)
    t["route.active0"] = np.array(out["active0"], dtype=np.int32)
    t["route.active1"] = np.array(out["active1"], dtype=np.int32)
    if out["targets"]:
        t["route.target"] = np.array(out["targets"], dtype=np.int32)
    return t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("grads", "adamw"):
        p = sub.add_parser(name)
        p.add_argument("pipeline")
        p.add_argument("--data", required=True)
        p.add_argument("--noise", required=True)
        p.add_argument("--batch", type=int, required=True)
        p.add_argument("--weights")
        p.add_argument("--tau", type=float, default=DEFAULTS["tau"])
        p.add_argument("--l-ent", type=float, default=DEFAULTS["l_ent"])
        p.add_argument("--l-bal", type=float, default=DEFAULTS["l_bal"])
        p.add_argument("--l-con", type=float, default=DEFAULTS["l_con"])
        p.add_argument("--l-route", type=float, default=DEFAULTS["l_route"])
        p.add_argument("--out", required=True)
        p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                       help="float32: the same step in PyTorch f32 (a benchmark baseline)")
        if name == "adamw":
            p.add_argument("--steps", type=int, required=True)
            p.add_argument("--lr", type=float, required=True)
            p.add_argument("--warmup", type=int, default=0)
    p = sub.add_parser("noise")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--experts", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    a = ap.parse_args(argv)

    if a.cmd == "noise":
        write_safetensors(a.out, make_noise(a.steps, a.batch, a.experts, a.seed))
        return 0
    tr = TrainRef.load(a.pipeline, a.weights, tau=a.tau, l_ent=a.l_ent, l_bal=a.l_bal,
                       l_con=a.l_con, l_route=a.l_route, dtype=getattr(torch, a.dtype))
    data = read_jsonl(a.data)
    g0, g1 = read_noise(a.noise)
    if a.cmd == "grads":
        check_noise(g0, a.batch, tr.M)
        ex = [data[i] for i in batch_indices(0, a.batch, len(data))]
        out, grads = tr.grads(ex, g0[0], g1[0])
        write_safetensors(a.out, grads_file(tr, out, grads))
        print(" ".join(f"{k} {float(out[k]):.9g}" for k in ("total",) + TERMS),
              "active0", out["active0"], "active1", out["active1"])
        return 0
    check_noise(g0, a.batch, tr.M, a.steps)
    params = tr.adamw(data, g0, g1, a.batch, a.steps, a.lr, a.warmup)
    write_safetensors(a.out, {k: v.detach().numpy().astype(np.float32) for k, v in params.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
