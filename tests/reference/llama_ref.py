#!/usr/bin/python3
"""An independent float64 reference of the Hugging Face Llama/Mistral forward pass.

Written from the math, not from transformers (which is not installed here): its own
safetensors reader, RMSNorm, RoPE (plain, `linear`, `llama3`), grouped-query attention
with a causal (and Mistral sliding-window) mask, SwiGLU MLP, final norm, tied or untied
LM head. Weights are upcast from their stored dtype to float64; every sum runs in float64.

    model = LlamaRef.load(DIR)
    logits = model.forward([1, 15, 27])      # [T, V] float64 torch tensor

Shapes: T tokens, d hidden, H query heads, Hk key/value heads, hd head_dim, V vocab.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors  # noqa: E402


# ---- checkpoint ----

def checkpoint_files(model_dir):
    """The weight files of a model folder: the index's shards, or model.safetensors."""
    index_path = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as fh:
            weight_map = json.load(fh)["weight_map"]
        return sorted(set(weight_map.values())), weight_map
    return ["model.safetensors"], None


def load_checkpoint(model_dir):
    """-> {name: float64 torch tensor} over all shards; checks the index against the shards."""
    files, weight_map = checkpoint_files(model_dir)
    weights = {}
    for f in files:
        for name, arr in read_safetensors(os.path.join(model_dir, f)).items():
            if weight_map is not None and weight_map.get(name) != f:
                raise ValueError(f"{model_dir}: tensor {name} is in {f} but the index says "
                                 f"{weight_map.get(name)}")
            weights[name] = torch.from_numpy(arr.astype(np.float64))
    if weight_map is not None:
        missing = sorted(set(weight_map) - set(weights))
        if missing:
            raise ValueError(f"{model_dir}: index names tensors no shard holds: {missing[:3]}")
    return weights


# ---- config ----

class RefConfig:
    """The settings the forward pass needs, read from config.json as HF reads them."""

    def __init__(self, cfg):
        self.arch = cfg.get("model_type", "llama")
        self.hidden = cfg["hidden_size"]
        self.n_layers = cfg["num_hidden_layers"]
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv_heads = cfg.get("num_key_value_heads") or self.n_heads
        self.head_dim = cfg.get("head_dim") or self.hidden // self.n_heads
        self.ffn = cfg["intermediate_size"]
        self.vocab = cfg["vocab_size"]
        self.rms_eps = cfg.get("rms_norm_eps", 1e-6)
        self.rope_theta = cfg.get("rope_theta", 10000.0)
        self.rope_scaling = cfg.get("rope_scaling") or {}
        self.tied = cfg.get("tie_word_embeddings", False)
        # HF applies a sliding window in Mistral only; null means none.
        self.sliding_window = (cfg.get("sliding_window") or 0) if self.arch == "mistral" else 0

    @property
    def rope_type(self):
        rs = self.rope_scaling
        return rs.get("rope_type", rs.get("type", "default")) if rs else "default"

    @staticmethod
    def load(model_dir):
        with open(os.path.join(model_dir, "config.json")) as fh:
            return RefConfig(json.load(fh))


# ---- the layers, one function each ----

def rms_norm(x, w, eps):
    """x [T, d], w [d] -> x * rsqrt(mean(x^2) + eps) * w."""
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * w


def rope_inv_freq(cfg):
    """[hd/2] inverse frequencies 1/theta^(2i/hd), with llama3 scaling applied when asked
    (or explicit per-frequency divisors: rope_type "factors", what a GGUF file stores)."""
    hd = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    if cfg.rope_type == "factors":   # a GGUF's rope_freqs tensor: one divisor per frequency
        return inv_freq / torch.as_tensor(cfg.rope_scaling["factors"], dtype=torch.float64)
    if cfg.rope_type != "llama3":
        return inv_freq
    rs = cfg.rope_scaling
    factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    orig = rs["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    low_freq_wavelen, high_freq_wavelen = orig / low, orig / high
    smooth = (orig / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    out = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, smoothed)
    return torch.where(wavelen < high_freq_wavelen, inv_freq, out)


def rope_cos_sin(cfg, positions):
    """positions [T] -> cos, sin [T, hd] (each frequency twice: halves, HF's layout)."""
    pos = torch.as_tensor(positions, dtype=torch.float64)
    if cfg.rope_type == "linear":
        pos = pos / cfg.rope_scaling["factor"]
    angles = pos[:, None] * rope_inv_freq(cfg)[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x, cos, sin):
    """x [heads, T, hd] -> x * cos + rotate_half(x) * sin."""
    return x * cos[None] + rotate_half(x) * sin[None]


def attention_mask(n_tokens, window):
    """[T, T] additive mask: key j visible to query p iff j <= p (and p - window < j)."""
    p = torch.arange(n_tokens)[:, None]
    j = torch.arange(n_tokens)[None, :]
    visible = j <= p
    if window:
        visible &= j > p - window
    mask = torch.zeros(n_tokens, n_tokens, dtype=torch.float64)
    return mask.masked_fill(~visible, float("-inf"))


def attention(q, k, v, mask):
    """q [H, T, hd], k/v [Hk, T, hd] -> [H, T, hd]; each kv head serves H/Hk query heads."""
    group = q.shape[0] // k.shape[0]
    k = k.repeat_interleave(group, dim=0)
    v = v.repeat_interleave(group, dim=0)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + mask
    return torch.softmax(scores, dim=-1) @ v


def swiglu_mlp(x, w_gate, w_up, w_down):
    """x [T, d] -> down(silu(gate(x)) * up(x)) [T, d]."""
    return (torch.nn.functional.silu(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T


# ---- the model ----

class LlamaRef:
    def __init__(self, cfg, weights):
        self.cfg = cfg
        self.w = weights
        self._check_shapes()

    @staticmethod
    def load(model_dir):
        return LlamaRef(RefConfig.load(model_dir), load_checkpoint(model_dir))

    @staticmethod
    def from_dict(config, weights):
        """config: a config.json-style dict; weights: {HF name: float64 tensor or array}.
        For models that do not come from a folder (a GGUF file: gguf_ref.py)."""
        return LlamaRef(RefConfig(config), {k: torch.as_tensor(v, dtype=torch.float64)
                                            for k, v in weights.items()})

    def expected_shapes(self):
        c = self.cfg
        d, qd, kvd = c.hidden, c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim
        shapes = {"model.embed_tokens.weight": (c.vocab, d), "model.norm.weight": (d,)}
        for i in range(c.n_layers):
            pre = f"model.layers.{i}."
            shapes.update({
                pre + "input_layernorm.weight": (d,),
                pre + "self_attn.q_proj.weight": (qd, d),
                pre + "self_attn.k_proj.weight": (kvd, d),
                pre + "self_attn.v_proj.weight": (kvd, d),
                pre + "self_attn.o_proj.weight": (d, qd),
                pre + "post_attention_layernorm.weight": (d,),
                pre + "mlp.gate_proj.weight": (c.ffn, d),
                pre + "mlp.up_proj.weight": (c.ffn, d),
                pre + "mlp.down_proj.weight": (d, c.ffn),
            })
        if not c.tied:
            shapes["lm_head.weight"] = (c.vocab, d)
        return shapes

    def _check_shapes(self):
        for name, shape in self.expected_shapes().items():
            if name not in self.w:
                raise ValueError(f"tensor {name}: missing")
            if tuple(self.w[name].shape) != shape:
                raise ValueError(f"tensor {name}: expected {list(shape)}, "
                                 f"found {list(self.w[name].shape)}")

    def layer(self, i, x, cos, sin, mask):
        """One decoder layer; x [T, d] -> [T, d]."""
        c, w, pre = self.cfg, self.w, f"model.layers.{i}."
        T = x.shape[0]
        h = rms_norm(x, w[pre + "input_layernorm.weight"], c.rms_eps)
        def heads(proj, n):  # [T, d] -> [n, T, hd]
            return (h @ w[pre + proj].T).view(T, n, c.head_dim).transpose(0, 1)

        q = heads("self_attn.q_proj.weight", c.n_heads)
        k = heads("self_attn.k_proj.weight", c.n_kv_heads)
        v = heads("self_attn.v_proj.weight", c.n_kv_heads)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        o = attention(q, k, v, mask).transpose(0, 1).reshape(T, c.n_heads * c.head_dim)
        x = x + o @ w[pre + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[pre + "post_attention_layernorm.weight"], c.rms_eps)
        return x + swiglu_mlp(h, w[pre + "mlp.gate_proj.weight"], w[pre + "mlp.up_proj.weight"],
                              w[pre + "mlp.down_proj.weight"])

    def forward(self, tokens):
        """tokens [T] (positions 0..T-1) -> logits [T, V] float64."""
        c, w = self.cfg, self.w
        ids = torch.as_tensor(list(tokens), dtype=torch.long)
        if ids.numel() == 0:
            raise ValueError("forward: no tokens")
        if int(ids.min()) < 0 or int(ids.max()) >= c.vocab:
            raise ValueError(f"forward: token id out of range [0, {c.vocab})")
        x = w["model.embed_tokens.weight"][ids]
        cos, sin = rope_cos_sin(c, torch.arange(len(ids)))
        mask = attention_mask(len(ids), c.sliding_window)
        for i in range(c.n_layers):
            x = self.layer(i, x, cos, sin, mask)
        x = rms_norm(x, w["model.norm.weight"], c.rms_eps)
        head = w["model.embed_tokens.weight"] if c.tied else w["lm_head.weight"]
        return x @ head.T


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: llama_ref.py MODEL_DIR TOKEN_ID...   (prints the last row's top 5)")
    logits = LlamaRef.load(sys.argv[1]).forward([int(t) for t in sys.argv[2:]])
    top = torch.topk(logits[-1], 5)
    for value, idx in zip(top.values.tolist(), top.indices.tolist()):
        print(f"{idx}\t{value:.6f}")
