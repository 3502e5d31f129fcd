"""A Hugging Face tokenizer.json (as make_tokenizer.py writes it) -> the tokenizer.ggml.*
metadata of a GGUF file, the way llama.cpp's converter fills it.

Two styles:
- `gpt2` (byte-level BPE): tokens in id order, token_type (1 normal, 3 control for special
  added tokens, 4 user-defined for other added tokens, 5 unused for holes), merges as "a b"
  strings, and `tokenizer.ggml.pre` naming the pre-tokenizer regex (see PRE_NAMES).
- `llama` (SentencePiece-style BPE with byte fallback): tokens, scores and token_type (2 unknown,
  3 control, 6 byte for <0xNN>, 1 normal). llama.cpp's SPM tokenizer has no merge list: it
  merges the adjacent pair whose joined text has the highest score. So a merged token scores
  -(rank of the merge that made it), and base characters, bytes and specials score 0; then
  the highest score is the earliest merge, as HF's BPE ranks them. (llama.cpp's converter
  writes -1000 for every token of a tokenizer.json-only Llama, which loses this order.)

BOS/EOS/UNK ids and add_bos_token follow tokenizer_config.json when it says, else what the
post-processor does (a TemplateProcessing that puts BOS first means add_bos_token = true).
"""
import json
import os
import re

# llama.cpp's names for pre-tokenizer regexes (llama-vocab.cpp, tokenizer.ggml.pre).
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE_NAMES = {LLAMA3_REGEX: "llama-bpe"}

TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED, TOKEN_BYTE = 1, 2, 3, 4, 5, 6
_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def _load(model_dir):
    with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as fh:
        tok = json.load(fh)
    cfg = {}
    path = os.path.join(model_dir, "tokenizer_config.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            cfg = json.load(fh)
    return tok, cfg


def _pre_name(tok):
    """The llama.cpp name of the pre-tokenizer: its Split regex looked up in PRE_NAMES;
    'default' (GPT-2's regex) when the byte-level step splits by itself."""
    pre = tok.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre])
    for step in steps:
        if step.get("type") == "Split":
            regex = step.get("pattern", {}).get("Regex")
            if regex in PRE_NAMES:
                return PRE_NAMES[regex]
            raise ValueError(f"pre-tokenizer regex {regex!r} has no llama.cpp name here")
    if any(s.get("type") == "ByteLevel" and s.get("use_regex", True) for s in steps):
        return "default"
    raise ValueError("byte-level tokenizer without a recognisable pre-tokenizer")


def _special_id(cfg, key, ids):
    value = cfg.get(key)
    if isinstance(value, dict):
        value = value.get("content")
    return ids.get(value) if value is not None else None


def _adds_bos(tok, cfg, bos_id):
    if "add_bos_token" in cfg:
        return bool(cfg["add_bos_token"])
    post = tok.get("post_processor") or {}
    steps = post.get("processors", [post])
    for step in steps:
        if step.get("type") == "TemplateProcessing":
            first = step["single"][0]
            if "SpecialToken" in first:
                ids = step["special_tokens"][first["SpecialToken"]["id"]]["ids"]
                return ids == [bos_id]
    return False


def vocab_metadata(model_dir, vocab_size):
    """-> list of (key, value, kind) with kind in {'str', 'u32', 'bool', 'str[]', 'i32[]',
    'f32[]'}, in the order the converter writes them."""
    tok, cfg = _load(model_dir)
    model = tok["model"]
    ids = dict(model["vocab"])
    added = {t["content"]: t for t in tok.get("added_tokens", [])}
    for content, t in added.items():
        ids.setdefault(content, t["id"])
    by_id = {i: s for s, i in ids.items()}
    spm = bool(model.get("byte_fallback"))
    tokens, types, scores = [], [], []
    rank = {}
    for r, m in enumerate(model.get("merges", [])):
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        rank.setdefault(a + b, r)
    unk = model.get("unk_token")
    for i in range(vocab_size):
        s = by_id.get(i)
        if s is None:
            tokens.append(f"[PAD{i}]")
            types.append(TOKEN_UNUSED)
            scores.append(-1e4)
            continue
        tokens.append(s)
        if s in added and added[s].get("special", True):
            types.append(TOKEN_UNKNOWN if spm and s == unk else TOKEN_CONTROL)
        elif s in added:
            types.append(TOKEN_USER_DEFINED)
        elif spm and _BYTE_TOKEN.fullmatch(s):
            types.append(TOKEN_BYTE)
        else:
            types.append(TOKEN_NORMAL)
        scores.append(-float(rank[s] + 1) if s in rank else 0.0)

    bos = _special_id(cfg, "bos_token", ids)
    eos = _special_id(cfg, "eos_token", ids)
    unk_id = _special_id(cfg, "unk_token", ids)
    meta = [("tokenizer.ggml.model", "llama" if spm else "gpt2", "str")]
    if not spm:
        meta.append(("tokenizer.ggml.pre", _pre_name(tok), "str"))
    meta.append(("tokenizer.ggml.tokens", tokens, "str[]"))
    if spm:
        meta.append(("tokenizer.ggml.scores", scores, "f32[]"))
    meta.append(("tokenizer.ggml.token_type", types, "i32[]"))
    if not spm:
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
        meta.append(("tokenizer.ggml.merges", merges, "str[]"))
    for key, value in (("bos_token_id", bos), ("eos_token_id", eos), ("unknown_token_id", unk_id)):
        if value is not None:
            meta.append((f"tokenizer.ggml.{key}", value, "u32"))
    meta.append(("tokenizer.ggml.add_bos_token", _adds_bos(tok, cfg, bos), "bool"))
    meta.append(("tokenizer.ggml.add_eos_token", bool(cfg.get("add_eos_token", False)), "bool"))
    if spm:
        meta.append(("tokenizer.ggml.add_space_prefix", True, "bool"))
    if cfg.get("chat_template"):
        meta.append(("tokenizer.chat_template", cfg["chat_template"], "str"))
    return meta
