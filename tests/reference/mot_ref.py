#!/usr/bin/python3
"""An independent float64 reference of a Mixture-of-Thoughts pipeline (SPEC.md section 1).

Written from the SPEC, not from the C code. The experts are tests/reference/llama_ref.py's
LlamaRef, run a range of layers at a time; between ranges the active experts meet in the
interaction layers (1.3) with the proportional-alignment mask (1.4).

    pipe = MotRef.load("pipeline.yaml")
    scores = pipe.router_scores(prompt)                     # [M] float64
    active = pipe.select_active(scores)                     # [K] indices, primary first
    logits = pipe.recompute(active, fed)                    # {m: [R_m - N_m + 1, V_m]}
    run = pipe.generate_greedy(prompt, active, max_tokens)  # SPEC 1.5, greedy

`recompute` is teacher-forced: given each active expert's fed tokens (its prompt, then the
tokens it sampled and fed back), it runs every expert over its whole sequence at once.
That equals prefill followed by KV-cached decode steps because every expert's backbone is
causal and the interaction mask lets a query see exactly the keys that existed at its step.
Shapes: R_m rows (fed tokens) of expert m, N_m its prompt tokens, d_m its hidden size,
d_s the shared size, H interaction heads, d_h = d_s / H.
"""
import json
import math
import os
import sys
from fractions import Fraction

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import LlamaRef, attention_mask, rms_norm, rope_cos_sin  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

WINDOWS = {"uniform": (Fraction(0), Fraction(1)), "shallow": (Fraction(0), Fraction(1, 2)),
           "intermediate": (Fraction(1, 4), Fraction(3, 4)), "deep": (Fraction(1, 2), Fraction(1))}
LAYERNORM_EPS = 1e-5


# ---- the pipeline file (SPEC 3), read as far as the math needs ----

class Pipeline:
    def __init__(self, path):
        import yaml
        with open(path) as fh:
            doc = yaml.safe_load(fh)
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        base = os.path.dirname(os.path.abspath(path))
        self.path = path
        self.experts = []
        for i, e in enumerate(doc.get("experts") or []):
            if "name" not in e or "path" not in e:
                raise ValueError(f"{path}: experts[{i}] needs name and path")
            self.experts.append(dict(name=str(e["name"]), dir=os.path.join(base, e["path"]),
                                     template=e.get("template"), layers=e.get("layers")))
        if not self.experts:
            raise ValueError(f"{path}: no experts")
        self.names = [e["name"] for e in self.experts]
        r = doc.get("router") or {}
        self.router_encoder = r.get("encoder", "mean-embed")
        self.router_expert = self.index(r.get("expert", self.names[0]))
        self.top_k = int(r.get("top_k", 1))
        it = doc.get("interaction") or {}
        self.stacks = int(it.get("stacks", 1))
        self.placement = it.get("placement", "uniform")
        self.shared_dim = int(it["shared_dim"])
        self.heads = int(it.get("heads", 1))
        self.norm = it.get("norm", "none")
        if self.norm not in ("none", "layernorm"):
            raise ValueError(f"{path}: interaction.norm must be none or layernorm, got {self.norm}")
        if self.shared_dim % self.heads:
            raise ValueError(f"{path}: heads {self.heads} must divide shared_dim {self.shared_dim}")
        self.weights = os.path.join(base, doc["weights"]) if doc.get("weights") else None
        self.sampler = doc.get("sampler") or {}
        # The expanded form's dataflow graph (docs/pipeline.md), followed as written when
        # present: a hand-edited topology runs in the reference too.
        self.graph = doc.get("graph")

    def index(self, name):
        if name not in self.names:
            raise ValueError(f"{self.path}: no expert named {name!r} (have {self.names})")
        return self.names.index(name)


def placement_ends(placement, n_layers, stacks, explicit=None):
    """SPEC 1.2: the 0-based layer after which each interaction q runs.
    end(q) = floor(a*L + (q+1)*(b-a)*L/Q) - 1, in exact rational arithmetic."""
    if placement == "explicit":
        if explicit is None or len(explicit) != stacks:
            raise ValueError(f"explicit placement needs {stacks} layer indices, got {explicit}")
        ends = [int(x) for x in explicit]
    elif placement in WINDOWS:
        a, b = WINDOWS[placement]
        L = n_layers
        ends = [math.floor(a * L + (q + 1) * (b - a) * L / stacks) - 1 for q in range(stacks)]
    else:
        raise ValueError(f"unknown placement {placement!r}")
    for q, e in enumerate(ends):
        if not 0 <= e < n_layers:
            raise ValueError(f"interaction {q} after layer {e}: outside [0, {n_layers})")
        if q and e <= ends[q - 1]:
            raise ValueError(f"interaction points {ends} of a {n_layers}-layer expert coincide "
                             "or decrease")
    return ends


# ---- tokens ----

_GGUF_META = {}


def gguf_meta(path):
    """A GGUF expert's metadata (read once)."""
    if path not in _GGUF_META:
        import gguf_ref
        _GGUF_META[path] = gguf_ref.read_gguf(path)[0]
    return _GGUF_META[path]


def prompt_tokens(model_dir, text):
    """HF tokenizers' encoding, BOS as the expert's configuration asks (compare_dump's rule);
    for a GGUF expert, the file's own vocabulary rebuilt (tests/reference/gguf_tokenizer.py)."""
    if model_dir.endswith(".gguf"):
        from gguf_tokenizer import tokenizer_for
        return tokenizer_for(gguf_meta(model_dir)).encode(text)
    from compare_dump import hf_prompt_tokens
    return hf_prompt_tokens(model_dir, text)


def apply_template(template, prompt):
    return template.replace("{prompt}", prompt) if template else prompt


def eos_ids(model_dir):
    """EOS ids: generation_config.json's eos_token_id, else config.json's (an int or a list);
    a GGUF file's tokenizer.ggml.eos_token_id (and eot_token_id)."""
    if model_dir.endswith(".gguf"):
        meta = gguf_meta(model_dir)
        return {int(meta[k]) for k in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id")
                if meta.get(k) is not None}
    for name in ("generation_config.json", "config.json"):
        path = os.path.join(model_dir, name)
        if os.path.exists(path):
            with open(path) as fh:
                value = json.load(fh).get("eos_token_id")
            if value is not None:
                return set(value) if isinstance(value, list) else {int(value)}
    return set()


# ---- math pieces, one function each ----

def linear(x, w, b=None):
    """x [R, in], w [out, in], b [out] or None -> [R, out]."""
    y = x @ w.T
    return y + b if b is not None else y


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def layer_norm(x, w, b, eps=LAYERNORM_EPS):
    """x [R, d] -> (x - mean) / sqrt(var + eps) * w + b (biased variance, as PyTorch)."""
    mu = x.mean(dim=-1, keepdim=True)
    var = (x - mu).pow(2).mean(dim=-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def top_k_indices(scores, k, allowed=None):
    """The k indices with the largest scores, descending; ties to the lower index."""
    idx = [i for i in range(len(scores)) if allowed is None or i in allowed]
    return sorted(idx, key=lambda i: (-float(scores[i]), i))[:k]


def cross_mask(n_p, rows_p, n_m, rows_m):
    """SPEC 1.4, bool [rows_p, rows_m]: may primary row i see expert m's key row j?
    Rows below N are prefill tokens; row N + t is decode step t. Expert m has a key row for
    decode step s exactly when it was fed a token at step s (a dead expert's rows stop), and
    a decode query at step t sees all prefill keys and those decode keys with s <= t."""
    i = torch.arange(rows_p)[:, None]
    j = torch.arange(rows_m)[None, :]
    key_prefill = j < n_m
    # ceil((j+1) * N_p / N_m) - 1 <= i, in integers
    aligned = ((j + 1) * n_p + n_m - 1) // n_m - 1 <= i
    step_q, step_k = i - n_p, j - n_m
    return torch.where(i < n_p, key_prefill & aligned, key_prefill | (step_k <= step_q))


def cross_attention(q, keys, values, visible, heads):
    """q [R_p, d_s]; keys, values [S, d_s] (the speaking active experts, concatenated in the
    order of A); visible bool [R_p, S] -> [R_p, d_s]. Scale 1/sqrt(d_h), no positional
    encoding. A query row that sees no key (the primary listens and no aligned key exists yet,
    or no active expert speaks: S = 0) gets 0: an empty softmax contributes nothing."""
    d_h = q.shape[1] // heads
    if keys.shape[0] == 0:
        return torch.zeros_like(q)
    qh = q.view(-1, heads, d_h).transpose(0, 1)              # [H, R_p, d_h]
    kh = keys.view(-1, heads, d_h).transpose(0, 1)           # [H, S, d_h]
    vh = values.view(-1, heads, d_h).transpose(0, 1)
    scores = qh @ kh.transpose(1, 2) / math.sqrt(d_h)        # [H, R_p, S]
    seen = visible.any(dim=1)                                # [R_p]
    # rows that see nothing: a finite stand-in row (no NaN, no gradient), zeroed after
    vis = visible | ~seen[:, None]
    scores = scores.masked_fill(~vis[None], float("-inf"))
    out = (torch.softmax(scores, dim=-1) @ vh) * seen[None, :, None]   # [H, R_p, d_h]
    return out.transpose(0, 1).reshape(q.shape[0], -1)


# ---- one expert, a range of layers at a time ----

class ExpertRun:
    """An expert's hidden states over its fed rows, advanced layer range by layer range."""

    def __init__(self, model, fed):
        c = model.cfg
        ids = torch.as_tensor(list(fed), dtype=torch.long)
        if ids.numel() == 0 or int(ids.min()) < 0 or int(ids.max()) >= c.vocab:
            raise ValueError(f"fed tokens must be non-empty ids in [0, {c.vocab})")
        self.model = model
        self.x = model.w["model.embed_tokens.weight"][ids]          # [R, d]
        self.cos, self.sin = rope_cos_sin(c, torch.arange(len(ids)))
        self.mask = attention_mask(len(ids), c.sliding_window)
        self.next_layer = 0

    def run_through(self, last_layer):
        """Runs layers next_layer..last_layer inclusive."""
        for i in range(self.next_layer, last_layer + 1):
            self.x = self.model.layer(i, self.x, self.cos, self.sin, self.mask)
        self.next_layer = max(self.next_layer, last_layer + 1)

    def final_hidden(self):
        """[R, d]: after the final RMSNorm, what the LM head multiplies."""
        c, w = self.model.cfg, self.model.w
        return rms_norm(self.x, w["model.norm.weight"], c.rms_eps)

    def logits(self):
        c, w = self.model.cfg, self.model.w
        head = w["model.embed_tokens.weight"] if c.tied else w["lm_head.weight"]
        return self.final_hidden() @ head.T                            # [R, V]


# ---- the MoT weights (SPEC 2.2) ----

class MotWeights:
    def __init__(self, path, pipe, hidden_sizes):
        raw = read_safetensors(path)
        self.path = path
        self.t = {k: torch.from_numpy(v.astype(np.float64)) for k, v in raw.items()}
        self.pipe = pipe
        self._check(hidden_sizes)

    def get(self, name):
        return self.t[name]

    def opt(self, name):
        """An optional tensor: used exactly when present."""
        return self.t.get(name)

    def _check(self, hidden_sizes):
        p, ds = self.pipe, self.pipe.shared_dim
        want = {}
        for q in range(p.stacks):
            pre = f"interaction.{q}."
            for e, d in zip(p.names, hidden_sizes):
                want[pre + f"forward.{e}.weight"] = (ds, d)
                want[pre + f"reverse.{e}.weight"] = (d, ds)
                want[pre + f"forward.{e}.bias"] = (ds,)
                want[pre + f"reverse.{e}.bias"] = (d,)
            for proj in "qkvo":
                want[pre + f"attn.{proj}_proj.weight"] = (ds, ds)
                want[pre + f"attn.{proj}_proj.bias"] = (ds,)
            if p.norm == "layernorm":
                want[pre + "norm.weight"] = (ds,)
                want[pre + "norm.bias"] = (ds,)
        for name, shape in want.items():
            required = name.endswith(".weight") or ".norm." in name
            if name not in self.t:
                if required:
                    raise ValueError(f"{self.path}: tensor {name}: missing")
                continue
            if tuple(self.t[name].shape) != shape:
                raise ValueError(f"{self.path}: tensor {name}: expected {list(shape)}, "
                                 f"found {list(self.t[name].shape)}")


def load_expert(path):
    """A folder through LlamaRef.load; a GGUF file dequantized to float64 (gguf_ref.load)."""
    if path.endswith(".gguf"):
        import gguf_ref
        return gguf_ref.load(path)[0]
    return LlamaRef.load(path)


# ---- the whole pipeline ----

class MotRef:
    def __init__(self, pipe, experts, weights):
        self.pipe = pipe
        self.experts = experts                 # [M] LlamaRef
        self.w = weights
        self.ends = [placement_ends(pipe.placement, ex.cfg.n_layers, pipe.stacks, e["layers"])
                     for ex, e in zip(experts, pipe.experts)]
        self.eos = [eos_ids(e["dir"]) for e in pipe.experts]

    @staticmethod
    def load(pipeline_path, weights_path=None):
        pipe = Pipeline(pipeline_path)
        experts = [load_expert(e["dir"]) for e in pipe.experts]
        path = weights_path or pipe.weights
        if not path:
            raise ValueError(f"{pipeline_path}: no weights file")
        return MotRef(pipe, experts, MotWeights(path, pipe, [m.cfg.hidden for m in experts]))

    # -- 1.1 router --
    def router_tokens(self, prompt):
        return prompt_tokens(self.pipe.experts[self.pipe.router_expert]["dir"], prompt)

    def router_scores(self, prompt):
        """s = W2 gelu(W1 z + b1) + b2 with z the mean embedding of the raw prompt -> [M]."""
        if self.pipe.router_encoder != "mean-embed":
            raise ValueError(f"router encoder {self.pipe.router_encoder!r} is not supported")
        model = self.experts[self.pipe.router_expert]
        ids = torch.as_tensor(self.router_tokens(prompt), dtype=torch.long)
        z = model.w["model.embed_tokens.weight"][ids].mean(dim=0, keepdim=True)   # [1, d_z]
        w = self.w
        h = gelu_erf(linear(z, w.get("router.fc1.weight"), w.get("router.fc1.bias")))
        return linear(h, w.get("router.fc2.weight"), w.get("router.fc2.bias"))[0]

    def select_active(self, scores, forced=None, drop=()):
        """Top-K by score (ties: lower index), or the forced names (primary first)."""
        if forced:
            return [self.pipe.index(n) for n in forced]
        dropped = {self.pipe.index(n) for n in drop}
        allowed = {i for i in range(len(self.pipe.names)) if i not in dropped}
        if len(allowed) < self.pipe.top_k:
            raise ValueError(f"dropping {sorted(drop)} leaves fewer than top_k experts")
        return top_k_indices(scores, self.pipe.top_k, allowed)

    def expert_prompt_tokens(self, m, prompt):
        e = self.pipe.experts[m]
        return prompt_tokens(e["dir"], apply_template(e["template"], prompt))

    # -- the dataflow graph: the file's own, or the expansion of the settings --
    def graph(self):
        if self.pipe.graph is not None:
            return self.pipe.graph
        names, Q = self.pipe.names, self.pipe.stacks
        nodes, last = [dict(id="router", kind="router")], {n: "router" for n in names}
        for q in range(Q):
            for m, n in enumerate(names):
                first = 0 if q == 0 else self.ends[m][q - 1] + 1
                nodes.append(dict(id=f"{n}/stack{q}", kind="stack", expert=n,
                                  layers=[first, self.ends[m][q]], inputs=[last[n]]))
            for n in names:
                nodes.append(dict(id=f"{n}/forward{q}", kind="projector", direction="forward",
                                  expert=n, stack=q, inputs=[f"{n}/stack{q}"]))
            nodes.append(dict(id=f"attention{q}", kind="attention", stack=q,
                              inputs=[f"{n}/forward{q}" for n in names]))
            for n in names:
                nodes.append(dict(id=f"{n}/reverse{q}", kind="projector", direction="reverse",
                                  expert=n, stack=q, inputs=[f"attention{q}", f"{n}/forward{q}"]))
                last[n] = f"{n}/reverse{q}"
        for m, n in enumerate(names):
            depth = self.experts[m].cfg.n_layers
            if self.ends[m][Q - 1] < depth - 1:
                nodes.append(dict(id=f"{n}/stack{Q}", kind="stack", expert=n,
                                  layers=[self.ends[m][Q - 1] + 1, depth - 1], inputs=[last[n]]))
                last[n] = f"{n}/stack{Q}"
        for n in names:
            nodes.append(dict(id=f"{n}/sampler", kind="sampler", expert=n, inputs=[last[n]]))
        return nodes

    # -- 1.3 an interaction layer, node by node --
    def forward_projection(self, q, m, run):
        """-> (z, n, k, v) of expert m's hidden state at stack q."""
        w, pre, name = self.w, f"interaction.{q}.", self.pipe.names[m]
        z = linear(run.x, w.get(pre + f"forward.{name}.weight"), w.opt(pre + f"forward.{name}.bias"))
        n = z
        if self.pipe.norm == "layernorm":
            n = layer_norm(z, w.get(pre + "norm.weight"), w.get(pre + "norm.bias"))
        k = linear(n, w.get(pre + "attn.k_proj.weight"), w.opt(pre + "attn.k_proj.bias"))
        v = linear(n, w.get(pre + "attn.v_proj.weight"), w.opt(pre + "attn.v_proj.bias"))
        return z, n, k, v

    def attention(self, q, active, runs, proj, n_prompt, speakers=None, query=0):
        """The queries of the expert routed at rank `query` (0: the primary; the attention
        node's `query` key) over the latent keys and values of the active experts that speak
        at this attention (speakers: expert indices, the attention node's `inputs`; None: all),
        with SPEC 1.4's mask taking that expert in the primary's role (its N). A listener (in
        the node's `listeners`) is not attended; when it is the querying expert its own latent
        still gives the queries (docs/pipeline.md)."""
        w, pre, p = self.w, f"interaction.{q}.", active[query]
        keyed = [m for m in active if speakers is None or m in speakers]   # in the order of A
        rows_p = runs[p].x.shape[0]
        d_s = proj[p][1].shape[1]
        visible = torch.cat([torch.zeros(rows_p, 0, dtype=torch.bool)] +
                            [cross_mask(n_prompt[p], rows_p, n_prompt[m], runs[m].x.shape[0])
                             for m in keyed], dim=1)                    # [R_p, S]
        empty = proj[p][1].new_zeros(0, d_s)
        qp = linear(proj[p][1], w.get(pre + "attn.q_proj.weight"), w.opt(pre + "attn.q_proj.bias"))
        o = cross_attention(qp, torch.cat([empty] + [proj[m][2] for m in keyed]),
                            torch.cat([empty] + [proj[m][3] for m in keyed]), visible, self.pipe.heads)
        return linear(o, w.get(pre + "attn.o_proj.weight"), w.opt(pre + "attn.o_proj.bias"))

    def reverse_projection(self, q, m, run, src):
        w, pre, name = self.w, f"interaction.{q}.", self.pipe.names[m]
        run.x = run.x + linear(src, w.get(pre + f"reverse.{name}.weight"), w.opt(pre + f"reverse.{name}.bias"))

    def interact(self, q, active, runs, n_prompt):
        """One whole interaction layer (the expansion's forward, attention, reverse nodes)."""
        proj = {m: self.forward_projection(q, m, runs[m]) for m in active}
        o = self.attention(q, active, runs, proj, n_prompt)
        for m in active:
            self.reverse_projection(q, m, runs[m], o if m == active[0] else proj[m][0])

    # -- the forward over whole sequences --
    def recompute(self, active, fed, n_prompt, final_hidden=False):
        """fed {m: token ids fed to m: its prompt, then its sampled tokens that were fed back};
        n_prompt {m: N_m}. -> {m: logits [R_m - N_m + 1, V_m]}: row 0 after the last prompt
        token (prefill), row t after feeding sampled token t-1. final_hidden: the rows the LM
        head multiplies ([R_m - N_m + 1, d_m]) instead of the logits. Runs the graph's nodes
        in order for the active experts (SPEC 1.3: the primary's reverse projector reads the
        attention output, a non-primary's its own z; with `query: r` attentions, the expert
        routed at rank r reads that one's output, docs/pipeline.md)."""
        if len(set(active)) != len(active) or not active:
            raise ValueError(f"active set {active} is empty or repeats an expert")
        runs = {m: ExpertRun(self.experts[m], fed[m]) for m in active}
        for m in active:
            if not 1 <= n_prompt[m] <= len(fed[m]):
                raise ValueError(f"expert {self.pipe.names[m]}: {n_prompt[m]} prompt tokens, "
                                 f"{len(fed[m])} fed")
        proj, att, sampled = {}, {}, set()   # att[(stack, query rank)]
        kinds = {n["id"]: n["kind"] for n in self.graph()}
        ids = {n["id"]: n for n in self.graph()}
        for node in self.graph():
            kind = node["kind"]
            if kind == "router":
                continue
            if kind == "attention":
                q, rank = int(node["stack"]), int(node.get("query", 0))
                if rank >= len(active):     # that rank is not routed: the attention is skipped
                    continue
                # keys: the experts in `inputs` (speakers); `listeners` only query
                speakers = {self.pipe.index(ids[i]["expert"]) for i in node["inputs"]}
                att[(q, rank)] = self.attention(q, active, runs,
                                                {m: proj[(q, m)] for m in active if (q, m) in proj},
                                                n_prompt, speakers, rank)
                continue
            m = self.pipe.index(node["expert"])
            if m not in active:
                continue
            if kind == "stack":
                first, last = (int(x) for x in node["layers"])
                if first != runs[m].next_layer:
                    raise ValueError(f"{node['id']}: starts at layer {first}, expected {runs[m].next_layer}")
                runs[m].run_through(last)
            elif kind == "projector" and node["direction"] == "forward":
                proj[(int(node["stack"]), m)] = self.forward_projection(int(node["stack"]), m, runs[m])
            elif kind == "projector":
                # the attention it lists whose query rank is m's rank in the route, else its z
                q, rank = int(node["stack"]), active.index(m)
                reads_att = any(kinds[i] == "attention" and int(ids[i].get("query", 0)) == rank
                                for i in node["inputs"])
                src = att[(q, rank)] if reads_att else proj[(q, m)][0]
                self.reverse_projection(q, m, runs[m], src)
            elif kind == "sampler":
                sampled.add(m)
        out = {}
        for m in active:
            if m not in sampled or runs[m].next_layer != self.experts[m].cfg.n_layers:
                raise ValueError(f"expert {self.pipe.names[m]}: the graph does not run all its layers "
                                 "and reach its sampler")
            rows = runs[m].final_hidden() if final_hidden else runs[m].logits()
            out[m] = rows[n_prompt[m] - 1:]
        return out

    # -- 1.5 greedy generation (for building test pools and self-tests) --
    def generate_greedy(self, prompt, active, max_tokens):
        """-> {m: (prompt tokens, sampled tokens, logits [T_m, V_m])}, as SPEC 1.5 with
        temperature 0 (arg-max, ties to the lower id)."""
        prompts = {m: self.expert_prompt_tokens(m, prompt) for m in active}
        sampled = {m: [] for m in active}
        alive = set(active)
        p = active[0]
        while True:
            fed = {m: prompts[m] + (sampled[m] if m in alive else sampled[m][:-1]) for m in active}
            logits = self.recompute(active, fed, {m: len(prompts[m]) for m in active})
            for m in active:
                if m in alive:
                    sampled[m].append(int(torch.argmax(logits[m][-1])))   # first maximum
            for m in active[1:]:
                if m in alive and sampled[m][-1] in self.eos[m]:
                    alive.discard(m)
            if sampled[p][-1] in self.eos[p] or len(sampled[p]) >= max_tokens:
                break
        return {m: (prompts[m], sampled[m], logits[m]) for m in active}


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: mot_ref.py PIPELINE.yaml PROMPT [MAX_TOKENS]  (greedy run, prints tokens)")
    ref = MotRef.load(sys.argv[1])
    scores = ref.router_scores(sys.argv[2])
    act = ref.select_active(scores)
    print("scores", [round(float(s), 6) for s in scores], "active",
          [ref.pipe.names[m] for m in act])
    result = ref.generate_greedy(sys.argv[2], act, int(sys.argv[3]) if len(sys.argv) > 3 else 8)
    for m in act:
        print(ref.pipe.names[m], "prompt", result[m][0], "sampled", result[m][1])
