#!/usr/bin/env python3
"""Vocabulary specs (what mot_tokenizer_from_vocab takes, as JSON for `mot-tok --vocab`) and the
HF `tokenizers` oracles built from them.

    spec_from_gguf(path)             the tokenizer.ggml.* arrays of a GGUF file (gguf.GGUFReader)
    spec_from_tokenizer_json(dir)    a make_tokenizer.py tokenizer as GGUF would hold it (byte-level:
                                     model gpt2, pre llama-bpe; sentencepiece: model llama with
                                     scores = -(rank of the merge that makes the piece))
    hf_from_spec(spec)               HF tokenizer from the arrays, with the HF components each
                                     pre-tokenizer name stands for (PRE below)
    spm_merges(spec)                 the merges HF's LlamaTokenizerFast holds for a scored vocab
"""
import json

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

SPIECE = "\u2581"
UNKNOWN, CONTROL, USER_DEFINED, BYTE = 2, 3, 4, 6

# The regexes as the models' tokenizer.json hold them (HF), or as llama.cpp's llama-vocab.cpp
# writes them for names no HF tokenizer has (default, falcon).
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
          r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
         r"\s*[\r\n]+|\s+(?!\S)|\s+")
TEKKEN = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?"
          r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|"
          r"\s*[\r\n]+|\s+(?!\S)|\s+")
GPT4O = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
         r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+"
         r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|"
         r"\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMACPP_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"  # no |\s+
LLAMACPP_DEFAULT = [r"[\p{P}\$\+<=>\^~\|]+", LLAMACPP_GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"]
LLAMACPP_FALCON = [r"[\p{P}\$\+<=>\^~\|`]+", LLAMACPP_GPT2, r"[0-9][0-9][0-9]"]


def _splits(regexes):
    return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r), "isolated") for r in regexes] +
                                   [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


def _digits_then_gpt2():  # StarCoder's and SmolLM's tokenizer.json
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])


# name -> (pre-tokenizer factory, ignore_merges, add_bos default)
PRE = {
    "smollm": (_digits_then_gpt2, False, False),
    "starcoder": (_digits_then_gpt2, False, False),
    "gpt-2": (lambda: pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), False, False),
    "llama-bpe": (lambda: _splits([LLAMA3]), True, True),
    "dbrx": (lambda: _splits([LLAMA3]), False, False),
    "qwen2": (lambda: _splits([QWEN2]), False, False),
    "tekken": (lambda: _splits([TEKKEN]), True, True),
    "gpt-4o": (lambda: _splits([GPT4O]), False, False),
    "default": (lambda: _splits(LLAMACPP_DEFAULT), False, False),
    "falcon": (lambda: _splits(LLAMACPP_FALCON), False, False),
}


def _strings(reader, key):
    f = reader.fields.get(key)
    if f is None:
        return None
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def _numbers(reader, key):
    f = reader.fields.get(key)
    return None if f is None else [f.parts[i].tolist()[0] for i in f.data]


def _scalar(reader, key, default):
    f = reader.fields.get(key)
    if f is None:
        return default
    v = f.parts[f.data[0]]
    return bytes(v).decode("utf-8") if f.types[-1] == __import__("gguf").GGUFValueType.STRING else v.tolist()[0]


def spec_from_gguf(path):
    import gguf
    r = gguf.GGUFReader(path)
    s = lambda k, d=None: _scalar(r, "tokenizer." + k, d)  # noqa: E731
    spec = {"source": path, "model": s("ggml.model"), "pre": s("ggml.pre"),
            "tokens": _strings(r, "tokenizer.ggml.tokens"), "merges": _strings(r, "tokenizer.ggml.merges"),
            "scores": _numbers(r, "tokenizer.ggml.scores"), "token_types": _numbers(r, "tokenizer.ggml.token_type"),
            "chat_template": s("chat_template")}
    for key, name in (("bos_id", "bos_token_id"), ("eos_id", "eos_token_id"), ("unk_id", "unknown_token_id"),
                      ("pad_id", "padding_token_id")):
        spec[key] = int(s("ggml." + name, -1))
    for key, name in (("add_bos", "add_bos_token"), ("add_eos", "add_eos_token"),
                      ("add_space_prefix", "add_space_prefix")):
        v = s("ggml." + name, None)
        spec[key] = -1 if v is None else int(bool(v))
    return spec


def spec_from_tokenizer_json(d):
    with open(d + "/tokenizer.json", encoding="utf-8") as f:
        tj = json.load(f)
    with open(d + "/tokenizer_config.json", encoding="utf-8") as f:
        cfg = json.load(f)
    vocab = dict(tj["model"]["vocab"])
    specials = {t["content"]: t["id"] for t in tj["added_tokens"]}
    vocab.update(specials)
    tokens = [None] * (max(vocab.values()) + 1)
    for t, i in vocab.items():
        tokens[i] = t
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    types = [CONTROL if t in specials else BYTE if t.startswith("<0x") and len(t) == 6 else 1 for t in tokens]
    spec = {"source": d + " (as GGUF arrays)", "tokens": tokens, "token_types": types,
            "bos_id": vocab[cfg["bos_token"]], "eos_id": vocab[cfg["eos_token"]], "unk_id": -1, "pad_id": -1,
            "add_bos": -1, "add_eos": -1, "add_space_prefix": -1, "chat_template": None}
    if tj["model"].get("byte_fallback"):
        unk = tj["model"]["unk_token"]
        spec["unk_id"] = vocab[unk]
        types[vocab[unk]] = UNKNOWN
        score = {t: 0.0 for t in tokens}
        for rank, m in enumerate(merges):
            a, b = m.split(" ")
            score[a + b] = -float(rank)
        spec.update(model="llama", pre="default", scores=[score[t] for t in tokens], merges=None)
    else:
        spec.update(model="gpt2", pre="llama-bpe", scores=None, merges=merges)
    return spec


def spm_merges(spec):
    """transformers' SentencePieceExtractor.extract(vocab_scores): every (prefix, suffix) split of
    every piece with both halves in the vocab, by the piece's score (higher first), then by the
    piece's id, the left id, the right id. Unknown, control and byte pieces take no part, as in
    SentencePiece."""
    types = spec["token_types"] or [1] * len(spec["tokens"])
    vocab = {t: i for i, t in enumerate(spec["tokens"]) if types[i] not in (UNKNOWN, CONTROL, BYTE) and t}
    out = []
    for piece, pid in vocab.items():
        local = [(piece[:k], piece[k:]) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
        local.sort(key=lambda lr: (vocab[lr[0]], vocab[lr[1]]))
        out.extend((spec["scores"][pid], pid, lr) for lr in local)
    out.sort(key=lambda x: (-x[0], x[1]))
    return [lr for _, _, lr in out]


def hf_from_spec(spec):
    """The HF tokenizer a GGUF vocabulary stands for, from the library's own components."""
    tokens, types = spec["tokens"], spec["token_types"] or [1] * len(spec["tokens"])
    vocab = {t: i for i, t in enumerate(tokens) if t}
    if spec["model"] == "gpt2":
        make_pre, ignore_merges, _ = PRE[spec["pre"] or "default"]
        merges = [tuple(m.split(" ", 1)) for m in spec["merges"]]
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges))
        tok.pre_tokenizer = make_pre()
        tok.decoder = decoders.ByteLevel()
    else:
        unk = tokens[spec["unk_id"] if spec["unk_id"] >= 0 else 0]
        tok = Tokenizer(models.BPE(vocab=vocab, merges=spm_merges(spec), unk_token=unk, byte_fallback=True,
                                   fuse_unk=True))
        steps = [normalizers.Prepend(SPIECE)] if spec["add_space_prefix"] != 0 else []
        tok.normalizer = normalizers.Sequence(steps + [normalizers.Replace(" ", SPIECE)])
        tok.decoder = decoders.Sequence([decoders.Replace(SPIECE, " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for i, t in enumerate(tokens) if types[i] in (UNKNOWN, CONTROL) and t])
    tok.add_tokens([AddedToken(t, special=False, normalized=False)
                    for i, t in enumerate(tokens) if types[i] == USER_DEFINED and t])
    return tok


def add_bos(spec):
    if spec["add_bos"] >= 0:
        return bool(spec["add_bos"])
    return spec["model"] == "llama" or PRE[spec["pre"] or "default"][2]


def write_spec(spec, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False)
