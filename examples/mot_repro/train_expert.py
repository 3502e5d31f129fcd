#!/usr/bin/env python3
"""Trains one small Llama-shaped expert on one domain's text and writes a Hugging Face folder.

    train_expert.py --text data/code.txt --out experts/code --tokenizer byte-level --vocab 2048 \
        --hidden 128 --layers 4 --heads 4 --kv-heads 2 --ffn 384 [--tie] --steps 300 --seed 0

The model is written here from Hugging Face's Llama semantics (RMSNorm with the weight after
normalising in f32, rotary embeddings in the rotate-half layout, grouped-query attention,
SwiGLU MLP), so the folder loads in mot (and in transformers' LlamaForCausalLM):
config.json, generation_config.json, model.safetensors (HF tensor names, f32),
tokenizer.json, tokenizer_config.json.

Tokenizers (trained with the `tokenizers` package on the same text):
  byte-level         GPT-2 style byte-level BPE, BOS <|bos|> / EOS <|eos|> after the model ids
  byte-level-digits  the same with digits split one by one first (Digits pre-tokenizer)
  metaspace          SentencePiece-style BPE: Metaspace pre-tokenizer ("▁", prepend first),
                     byte fallback with <0x00>..<0xFF>, <unk> <s> </s> at ids 0..2
Training: [BOS] + a random window of (seq-1) tokens of the text, AdamW, cosine schedule.
"""
import argparse
import json
import math
import os
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SP = "\u2581"


# ---------------------------------------------------------------- tokenizer
def train_tokenizer(style, vocab, text_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    if style in ("byte-level", "byte-level-digits"):
        tok = Tokenizer(models.BPE())
        bl = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), bl])
                             if style == "byte-level-digits" else bl)
        tok.decoder = decoders.ByteLevel()
        specials = ["<|bos|>", "<|eos|>"]
        tr = trainers.BpeTrainer(vocab_size=vocab, special_tokens=specials, show_progress=False,
                                 initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train([text_path], tr)
        bos, eos = specials
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
        j = json.loads(tok.to_str())
        cfg = {"bos_token": bos, "eos_token": eos, "clean_up_tokenization_spaces": False,
               "model_max_length": 4096, "tokenizer_class": "PreTrainedTokenizerFast"}
        return j, cfg, j["model"]["vocab"][bos], j["model"]["vocab"][eos]
    if style != "metaspace":
        raise SystemExit(f"unknown tokenizer style {style}")
    specials = ["<unk>", "<s>", "</s>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SP, prepend_scheme="first", split=True)
    tr = trainers.BpeTrainer(vocab_size=vocab - 256, special_tokens=specials, show_progress=False,
                             limit_alphabet=200)
    tok.train([text_path], tr)
    j = json.loads(tok.to_str())
    # Llama's layout: <unk> <s> </s>, then the 256 byte-fallback tokens, then the pieces.
    old = sorted(j["model"]["vocab"].items(), key=lambda kv: kv[1])
    new = {s: i for i, s in enumerate(specials)}
    for b in range(256):
        new["<0x%02X>" % b] = len(new)
    for s, _ in old:
        if s not in new:
            new[s] = len(new)
    j["model"]["vocab"] = new
    j["model"]["byte_fallback"] = True
    j["model"]["fuse_unk"] = True
    for t in j["added_tokens"]:
        t["id"] = new[t["content"]]
    j["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    j["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "ByteFallback"},
        {"type": "Metaspace", "replacement": SP, "prepend_scheme": "first", "split": True}]}
    cfg = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
           "unk_token": "<unk>", "clean_up_tokenization_spaces": False, "legacy": False,
           "model_max_length": 4096, "tokenizer_class": "LlamaTokenizer"}
    return j, cfg, 1, 2


# ---------------------------------------------------------------- model (HF Llama semantics)
class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        v = x.float().pow(2).mean(-1, keepdim=True)
        return self.weight * (x.float() * torch.rsqrt(v + self.eps)).to(x.dtype)


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h, kv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        hd = d // h
        self.h, self.kv, self.hd = h, kv, hd
        self.input_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.self_attn = nn.Module()
        self.self_attn.q_proj = nn.Linear(d, h * hd, bias=False)
        self.self_attn.k_proj = nn.Linear(d, kv * hd, bias=False)
        self.self_attn.v_proj = nn.Linear(d, kv * hd, bias=False)
        self.self_attn.o_proj = nn.Linear(h * hd, d, bias=False)
        self.mlp = nn.Module()
        self.mlp.gate_proj = nn.Linear(d, c["intermediate_size"], bias=False)
        self.mlp.up_proj = nn.Linear(d, c["intermediate_size"], bias=False)
        self.mlp.down_proj = nn.Linear(c["intermediate_size"], d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        a = self.self_attn
        y = self.input_layernorm(x)
        q = a.q_proj(y).view(B, T, self.h, self.hd).transpose(1, 2)
        k = a.k_proj(y).view(B, T, self.kv, self.hd).transpose(1, 2)
        v = a.v_proj(y).view(B, T, self.kv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.h // self.kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        o = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, self.h * self.hd)
        x = x + a.o_proj(o)
        y = self.post_attention_layernorm(x)
        return x + self.mlp.down_proj(F.silu(self.mlp.gate_proj(y)) * self.mlp.up_proj(y))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.model.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.model.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        if not c["tie_word_embeddings"]:
            self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids):
        T = ids.shape[1]
        hd = self.c["hidden_size"] // self.c["num_attention_heads"]
        inv = 1.0 / (self.c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        fr = torch.outer(torch.arange(T, dtype=torch.float32), inv)
        emb = torch.cat((fr, fr), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.model.embed_tokens(ids)
        for l in self.model.layers:
            x = l(x, cos, sin, mask)
        x = self.model.norm(x)
        w = self.model.embed_tokens.weight if self.c["tie_word_embeddings"] else self.lm_head.weight
        return x @ w.t()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--text", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", default="byte-level", choices=["byte-level", "byte-level-digits", "metaspace"])
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=384)
    ap.add_argument("--tie", action="store_true")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    os.makedirs(a.out, exist_ok=True)

    tj, tcfg, bos, eos = train_tokenizer(a.tokenizer, a.vocab, a.text)
    with open(os.path.join(a.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=1)
    with open(os.path.join(a.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tcfg, f, indent=2)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(a.out, "tokenizer.json"))
    n_vocab = tok.get_vocab_size(with_added_tokens=True)

    with open(a.text, encoding="utf-8") as f:
        text = f.read()
    chunks = [text[i:i + 20000] for i in range(0, len(text), 20000)]
    ids = []
    for enc in tok.encode_batch(chunks, add_special_tokens=False):
        ids += enc.ids
    data = torch.tensor(ids, dtype=torch.long)
    print(f"{a.out}: {len(text)} chars -> {len(ids)} tokens ({len(text) / len(ids):.2f} chars/token), vocab {n_vocab}",
          flush=True)

    c = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": a.hidden,
         "intermediate_size": a.ffn, "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
         "num_key_value_heads": a.kv_heads, "vocab_size": n_vocab, "rms_norm_eps": 1e-5,
         "rope_theta": 10000.0, "max_position_embeddings": 512, "tie_word_embeddings": a.tie,
         "hidden_act": "silu", "bos_token_id": bos, "eos_token_id": eos, "torch_dtype": "float32",
         "attention_bias": False, "mlp_bias": False}
    m = Llama(c)
    n_params = sum(p.numel() for p in m.parameters())
    print(f"params {n_params} ({n_params / 1e6:.2f} M)", flush=True)
    decay = [p for p in m.parameters() if p.dim() == 2]
    other = [p for p in m.parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    warm = max(1, a.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / warm if s < warm else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, a.steps - warm))))
    g = torch.Generator().manual_seed(a.seed)
    t0 = time.time()
    for step in range(a.steps):
        starts = torch.randint(0, len(data) - a.seq, (a.batch,), generator=g)
        x = torch.stack([data[s:s + a.seq] for s in starts])
        x = torch.cat([torch.full((a.batch, 1), bos, dtype=torch.long), x], dim=1)
        logits = m(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, n_vocab), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == a.steps - 1:
            el = time.time() - t0
            print(f"step {step:4d} loss {loss.item():.3f} lr {sched.get_last_lr()[0]:.2e} "
                  f"{(step + 1) * a.batch * a.seq / el:.0f} tok/s", flush=True)

    from safetensors.torch import save_file
    sd = {k: v.detach().contiguous() for k, v in m.state_dict().items()}
    save_file(sd, os.path.join(a.out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(a.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": bos, "eos_token_id": eos}, f, indent=2)
    with open(os.path.join(a.out, "train_log.json"), "w") as f:
        json.dump({"params": n_params, "tokens": len(ids), "steps": a.steps, "final_loss": loss.item(),
                   "seconds": time.time() - t0, "args": vars(a)}, f, indent=2)
    print(f"wrote {a.out} in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
