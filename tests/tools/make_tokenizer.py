#!/usr/bin/env python3
"""Writes a realistic Hugging Face tokenizer.json + tokenizer_config.json for test models.

Python 3 standard library only. Import it or run it.

    write_tokenizer(out_dir, style="byte-level", vocab_size=1000, seed=0, metaspace=False) -> dict

    style "byte-level":    Llama-3 / GPT-2 like. Split(Llama-3 regex, Isolated) then
                           ByteLevel(use_regex false), ignore_merges true, ByteLevel decoder,
                           special tokens <|begin_of_text|>, <|end_of_text|> and a few reserved
                           ones (the last ids, in added_tokens only), BOS added by a
                           TemplateProcessing post-processor. Merges written as ["a", "b"] pairs.
    style "sentencepiece": Llama-2 / Mistral like. <unk>=0 <s>=1 </s>=2, <0x00>..<0xFF> = 3..258,
                           byte_fallback, fuse_unk, normalizer Sequence[Prepend("▁"), Replace(" ", "▁")],
                           no pre-tokenizer, decoder Sequence[Replace("▁", " "), ByteFallback, Fuse,
                           Strip(" ", 1, 0)], no post-processor, add_bos_token true in
                           tokenizer_config.json. Merges written as "a b" strings.
        metaspace=True:    the Metaspace variant instead: no normalizer, pre-tokenizer
                           Metaspace(prepend_scheme "first", split true), decoder
                           Sequence[ByteFallback, Metaspace], a TemplateProcessing adding <s>,
                           merges as pairs.

    The vocabulary has exactly vocab_size entries, ids 0..vocab_size-1, special tokens included.
    Merges are trained (BPE) on a small embedded multilingual corpus; when more tokens are
    needed, further valid merges (concatenations of two existing tokens) are added. Deterministic
    for a given seed.

    Returns {"vocab_size": int, "bos_id": int, "eos_id": int, "unk_id": int or None,
             "style": str, "metaspace": bool, "special_tokens": {content: id}}.

Command line: make_tokenizer.py OUT_DIR [--style byte-level|sentencepiece] [--vocab-size N]
              [--seed S] [--metaspace]   (prints the returned dict as JSON)
"""

import argparse
import json
import os
import random
import re
import sys

CORPUS = """\
The quick brown fox jumps over the lazy dog. It's a sentence we've used for years; they'll keep using it.
Mixture-of-Thoughts routes every prompt to a few experts, and the experts talk through shared layers.
In 2024, the model processed 1234567 tokens in 89.5 seconds (about 13,793 tokens/s).
Prices: $4.99, €12.50, £7 — call +1-555-0100 before 10:30am on 2025-03-14!
def tokenize(text: str) -> list[int]:
    ids = []
    for i, ch in enumerate(text):
        if ch.isspace():
            continue
        ids.append(vocab.get(ch, UNK))
    return ids

int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        printf("%d: %s\\n", i, argv[i]);
    }
    return 0;
}
Machine learning models learn patterns from data; language models predict the next token.
The router scores each expert, then the top two experts answer together.
Der schnelle braune Fuchs springt über den faulen Hund. Größe, Straße, Äpfel und Öl.
Le renard brun rapide saute par-dessus le chien paresseux. Élève, café, garçon, où êtes-vous ?
El rápido zorro marrón salta sobre el perro perezoso. ¿Qué tal? ¡Muy bien, señor!
Быстрая коричневая лиса прыгает через ленивую собаку. Привет, мир!
我们的模型使用专家混合的方法来回答问题。今天天气很好，我们去公园散步吧。
日本語のテキストも少し入れておきます。東京は大きな都市です。ありがとうございます。
한국어 문장도 조금 있습니다. 안녕하세요, 만나서 반갑습니다.
Emoji time 😀🎉🚀 — thumbs up 👍 and a heart ❤️ for the team 🤖.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 31415926535 2718281828 42 007.
    Indented line with    several   spaces	and	tabs.

Multiple blank lines above, trailing spaces here   
JSON: {"name": "mot", "version": [0, 1, 0], "ok": true, "ratio": 0.75}
URLs like https://example.com/path?query=value&x=1 and emails like dev@example.org appear too.
I'm sure you're right; we'd better go. She's done, he'll come, I've seen it, you'd know.
The the the and and of of to to in in is is that that for for it it with with as as on on.
"""

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# Python's re has no \p{L}: an approximation, good enough to train merges with.
_TRAIN_SPLIT = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\w]?[^\W\d_]+|\d{1,3}|"
                          r" ?[^\s\w]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+|_+")

BYTE_LEVEL_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                       "<|reserved_special_token_1|>", "<|start_header_id|>", "<|end_header_id|>",
                       "<|reserved_special_token_2|>", "<|eot_id|>"]
SP_SPECIALS = ["<unk>", "<s>", "</s>"]
SPIECE = "\u2581"


def bytes_to_unicode():
    """GPT-2's byte -> printable character map, in its id order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}, bs


def _corpus_lines(seed):
    """The corpus with a seed-dependent subset and order, so that seeds give different merges."""
    rng = random.Random(seed)
    lines = CORPUS.split("\n")
    kept = [ln for ln in lines if rng.random() < 0.85 or not ln.strip()]
    rng.shuffle(kept)
    return kept


def train_bpe(words, n_merges):
    """words: {tuple of symbols: count}. Returns merges [(a, b)] in rank order (greedy BPE,
    ties broken by the lexicographically smallest pair, so the result is deterministic)."""
    words = [list(w) for w in words.items()]  # [[symbols, count]]
    words = [[list(sym), c] for sym, c in words]
    pair_count = {}
    pair_words = {}
    for wi, (sym, c) in enumerate(words):
        for p in zip(sym, sym[1:]):
            pair_count[p] = pair_count.get(p, 0) + c
            pair_words.setdefault(p, set()).add(wi)
    merges = []
    while len(merges) < n_merges and pair_count:
        best = max(pair_count.items(), key=lambda kv: (kv[1], tuple(-ord(ch) for ch in kv[0][0] + "\0" + kv[0][1])))
        pair, count = best
        if count < 2:
            break
        merges.append(pair)
        a, b = pair
        for wi in sorted(pair_words.pop(pair, ())):
            sym, c = words[wi]
            for p in zip(sym, sym[1:]):
                pair_count[p] -= c
                if pair_count[p] <= 0:
                    del pair_count[p]
            out, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and sym[i] == a and sym[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            words[wi][0] = out
            for p in zip(out, out[1:]):
                pair_count[p] = pair_count.get(p, 0) + c
                pair_words.setdefault(p, set()).add(wi)
        pair_count.pop(pair, None)
    return merges


def _fill_merges(vocab, tokens, merges, need, rng, allow_right):
    """Adds `need` merges (a, b) whose result a+b is new, from random pairs of tokens."""
    pool = list(tokens)
    misses = 0  # consecutive failed draws
    while need > 0:
        misses += 1
        if misses > 100000:
            raise RuntimeError("make_tokenizer: cannot find enough new merges")
        a = rng.choice(pool)
        b = rng.choice(pool)
        if not allow_right(b) or len(a) + len(b) > 16:
            continue
        ab = a + b
        if ab in vocab:
            continue
        misses = 0
        vocab[ab] = len(vocab)
        pool.append(ab)
        merges.append((a, b))
        need -= 1


def _added(content, id_):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def _template(bos, bos_id):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}}


def _byte_level(vocab_size, seed):
    n_special = len(BYTE_LEVEL_SPECIALS)
    if vocab_size < 256 + n_special:
        raise ValueError(f"byte-level vocab_size must be at least {256 + n_special}")
    byte_map, order = bytes_to_unicode()
    vocab = {byte_map[b]: i for i, b in enumerate(order)}
    counts = {}
    for line in _corpus_lines(seed):
        for piece in _TRAIN_SPLIT.findall(line + "\n"):
            w = tuple(byte_map[b] for b in piece.encode("utf-8"))
            counts[w] = counts.get(w, 0) + 1
    n_model = vocab_size - n_special
    merges = train_bpe(counts, n_model - 256)
    for a, b in merges:
        vocab[a + b] = len(vocab)
    rng = random.Random(seed * 7919 + 1)
    _fill_merges(vocab, list(vocab), merges, n_model - len(vocab), rng, lambda b: True)
    specials = {s: n_model + i for i, s in enumerate(BYTE_LEVEL_SPECIALS)}
    bos, eos = BYTE_LEVEL_SPECIALS[0], BYTE_LEVEL_SPECIALS[1]
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [_added(s, i) for s, i in specials.items()],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            _template(bos, specials[bos])]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": True, "vocab": vocab, "merges": [[a, b] for a, b in merges]},
    }
    config = {"bos_token": bos, "eos_token": eos, "clean_up_tokenization_spaces": True,
              "model_max_length": 131072, "tokenizer_class": "PreTrainedTokenizerFast"}
    info = {"bos_id": specials[bos], "eos_id": specials[eos], "unk_id": None, "special_tokens": specials}
    return tok, config, info


def _sentencepiece(vocab_size, seed, metaspace):
    vocab = {s: i for i, s in enumerate(SP_SPECIALS)}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    words, char_count = {}, {}
    for line in _corpus_lines(seed):
        text = SPIECE + line.replace(" ", SPIECE)
        for w in re.findall(SPIECE + "[^" + SPIECE + "]*|[^" + SPIECE + "]+", text):
            words[w] = words.get(w, 0) + 1
            for ch in w:
                char_count[ch] = char_count.get(ch, 0) + 1
    # Characters seen at least twice get a token; rarer ones are left to byte fallback.
    chars = sorted((c for c, k in char_count.items() if k >= 2), key=lambda c: (-char_count[c], c))
    chars = chars[:max(0, vocab_size - len(vocab))]
    for c in chars:
        vocab[c] = len(vocab)
    if vocab_size < len(vocab) or SPIECE not in vocab:
        raise ValueError(f"sentencepiece vocab_size must be at least {len(SP_SPECIALS) + 256 + 1}")
    # Train on words cut at characters without a token (they never merge).
    counts = {}
    for w, k in words.items():
        for part in re.split("[^" + re.escape("".join(chars)) + "]", w) if chars else []:
            if part:
                counts[tuple(part)] = counts.get(tuple(part), 0) + k
    merges = train_bpe(counts, vocab_size - len(vocab))
    for a, b in merges:
        vocab[a + b] = len(vocab)
    rng = random.Random(seed * 7919 + 2)
    pool = [t for t in vocab if t not in SP_SPECIALS and not t.startswith("<0x")]
    # SentencePiece never merges across a word start: the right part has no leading ▁.
    _fill_merges(vocab, pool, merges, vocab_size - len(vocab), rng, lambda b: not b.startswith(SPIECE))
    unk, bos, eos = SP_SPECIALS
    model = {"type": "BPE", "dropout": None, "unk_token": unk, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
             "vocab": vocab}
    tok = {"version": "1.0", "truncation": None, "padding": None,
           "added_tokens": [_added(s, vocab[s]) for s in SP_SPECIALS]}
    if metaspace:
        tok["normalizer"] = None
        tok["pre_tokenizer"] = {"type": "Metaspace", "replacement": SPIECE, "prepend_scheme": "first",
                                "split": True}
        tok["post_processor"] = _template(bos, vocab[bos])
        tok["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "ByteFallback"},
            {"type": "Metaspace", "replacement": SPIECE, "prepend_scheme": "first", "split": True}]}
        model["merges"] = [[a, b] for a, b in merges]
    else:
        tok["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPIECE},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPIECE}]}
        tok["pre_tokenizer"] = None
        tok["post_processor"] = None
        tok["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPIECE}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
        model["merges"] = [a + " " + b for a, b in merges]
    tok["model"] = model
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": bos, "eos_token": eos,
              "unk_token": unk, "clean_up_tokenization_spaces": False, "legacy": False,
              "model_max_length": 4096, "tokenizer_class": "LlamaTokenizer"}
    info = {"bos_id": vocab[bos], "eos_id": vocab[eos], "unk_id": vocab[unk],
            "special_tokens": {s: vocab[s] for s in SP_SPECIALS}}
    return tok, config, info


def write_tokenizer(out_dir, style="byte-level", vocab_size=1000, seed=0, metaspace=False):
    """Writes out_dir/tokenizer.json and out_dir/tokenizer_config.json; see the module doc."""
    if style == "byte-level":
        tok, config, info = _byte_level(vocab_size, seed)
    elif style == "sentencepiece":
        tok, config, info = _sentencepiece(vocab_size, seed, metaspace)
    else:
        raise ValueError(f"unknown tokenizer style {style!r} (byte-level or sentencepiece)")
    n_ids = len(tok["model"]["vocab"]) + sum(1 for t in tok["added_tokens"] if t["content"] not in tok["model"]["vocab"])
    assert n_ids == vocab_size, (n_ids, vocab_size)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
    info.update({"vocab_size": vocab_size, "style": style, "metaspace": bool(metaspace)})
    return info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--style", default="byte-level", choices=["byte-level", "sentencepiece"])
    ap.add_argument("--vocab-size", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metaspace", action="store_true")
    a = ap.parse_args(argv)
    info = write_tokenizer(a.out_dir, a.style, a.vocab_size, a.seed, a.metaspace)
    print(json.dumps(info, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
