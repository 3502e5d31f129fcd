"""An HF `tokenizers` Tokenizer rebuilt from a GGUF file's `gpt2`-style vocabulary: the oracle
for mot's prompt tokens when a GGUF has no tokenizer.json beside it (the real SmolLM2 file).

Byte-level BPE from tokenizer.ggml.tokens/merges, CONTROL and USER_DEFINED tokens as added
(special) tokens, and the pre-tokenizer that tokenizer.ggml.pre names, written as the Hugging
Face tokenizer.json of such models writes it:
  smollm     Digits(individual) then ByteLevel with GPT-2's regex   (SmolLM, SmolLM2)
  llama-bpe  Split(Llama 3's regex) then ByteLevel without a regex  (Llama 3, make_tokenizer.py)
  default    ByteLevel with GPT-2's regex                            (GPT-2)
BOS is prepended when tokenizer.ggml.add_bos_token says so.

SentencePiece-style (`llama`) vocabularies have no merge list; SPMTokenizer follows llama.cpp's
rule for them instead: spaces become U+2581 (one more in front when add_space_prefix), the
text starts as single characters, and the adjacent pair whose joined text is a token with the
highest score merges first (ties: the leftmost); a leftover symbol that is no token is
spelled with <0xNN> byte tokens. `tokenizer_for(meta)` picks the class the file asks for.
"""
import heapq

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, Regex

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
CONTROL, USER_DEFINED = 3, 4


def _pre_tokenizer(pre):
    if pre == "smollm":
        return pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    if pre == "llama-bpe":
        return pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    if pre in ("default", "gpt2"):
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    raise ValueError(f"tokenizer.ggml.pre {pre!r}: no oracle for it here")


class GGUFTokenizer:
    """encode(text) -> ids as llama.cpp would make them (BOS per the file); decode(ids)."""

    def __init__(self, meta):
        if meta.get("tokenizer.ggml.model") != "gpt2":
            raise ValueError(f"tokenizer.ggml.model {meta.get('tokenizer.ggml.model')!r}: "
                             "only gpt2-style vocabularies can be rebuilt")
        tokens = meta["tokenizer.ggml.tokens"]
        types = meta.get("tokenizer.ggml.token_type", [1] * len(tokens))
        merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
        vocab = {t: i for i, t in enumerate(tokens)}
        self.tok = Tokenizer(models.BPE(vocab, merges, ignore_merges=False))
        self.tok.pre_tokenizer = _pre_tokenizer(meta.get("tokenizer.ggml.pre", "default"))
        self.tok.decoder = decoders.ByteLevel()
        self.tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                     for t, ty in zip(tokens, types) if ty in (CONTROL, USER_DEFINED)])
        self.bos = meta.get("tokenizer.ggml.bos_token_id")
        self.eos = meta.get("tokenizer.ggml.eos_token_id")
        self.add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", False))

    def encode(self, text):
        ids = self.tok.encode(text, add_special_tokens=False).ids
        return ([self.bos] if self.add_bos and self.bos is not None else []) + ids

    def decode(self, ids):
        return self.tok.decode(list(ids), skip_special_tokens=False)


class SPMTokenizer:
    """encode(text) -> ids by llama.cpp's SentencePiece-style merge rule (module doc)."""

    def __init__(self, meta):
        self.tokens = meta["tokenizer.ggml.tokens"]
        self.scores = meta["tokenizer.ggml.scores"]
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.bos = meta.get("tokenizer.ggml.bos_token_id")
        self.eos = meta.get("tokenizer.ggml.eos_token_id")
        self.add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", True))
        self.space_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))

    def _symbols(self, text):
        """-> the merged symbols' texts, in order."""
        text = ("\u2581" if self.space_prefix else "") + text.replace(" ", "\u2581")
        syms = list(text)
        nxt = list(range(1, len(syms))) + [-1]
        prv = list(range(-1, len(syms) - 1))
        heap = []

        def push(left, right):
            if left >= 0 and right >= 0:
                joined = syms[left] + syms[right]
                if joined in self.ids:
                    heapq.heappush(heap, (-self.scores[self.ids[joined]], left, right, len(joined)))
        for i in range(len(syms) - 1):
            push(i, i + 1)
        while heap:
            _, left, right, size = heapq.heappop(heap)
            if nxt[left] != right or len(syms[left]) + len(syms[right]) != size:
                continue                       # a stale pair: one side has merged since
            syms[left] += syms[right]
            syms[right] = ""
            nxt[left] = nxt[right]
            if nxt[left] >= 0:
                prv[nxt[left]] = left
            push(prv[left], left)
            push(left, nxt[left])
        return [s for s in syms if s]

    def encode(self, text):
        out = [self.bos] if self.add_bos and self.bos is not None else []
        for s in self._symbols(text) if text else []:
            if s in self.ids:
                out.append(self.ids[s])
            else:
                out += [self.ids["<0x%02X>" % b] for b in s.encode("utf-8")]
        return out

    def decode(self, ids):
        raw = bytearray()
        for i in ids:
            t = self.tokens[i]
            if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                raw.append(int(t[3:5], 16))
            else:
                raw += t.replace("\u2581", " ").encode("utf-8")
        return raw.decode("utf-8", errors="replace")


def tokenizer_for(meta):
    """GGUFTokenizer for gpt2-style files, SPMTokenizer for llama-style ones."""
    if meta.get("tokenizer.ggml.model") == "llama":
        return SPMTokenizer(meta)
    return GGUFTokenizer(meta)
