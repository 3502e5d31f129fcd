"""An HF `tokenizers` Tokenizer rebuilt from a GGUF file's `gpt2`-style vocabulary: the oracle
for mot's prompt tokens when a GGUF has no tokenizer.json beside it (the real SmolLM2 file).

Byte-level BPE from tokenizer.ggml.tokens/merges, CONTROL and USER_DEFINED tokens as added
(special) tokens, and the pre-tokenizer that tokenizer.ggml.pre names, written as the Hugging
Face tokenizer.json of such models writes it:
  smollm     Digits(individual) then ByteLevel with GPT-2's regex   (SmolLM, SmolLM2)
  llama-bpe  Split(Llama 3's regex) then ByteLevel without a regex  (Llama 3, make_tokenizer.py)
  default    ByteLevel with GPT-2's regex                            (GPT-2)
BOS is prepended when tokenizer.ggml.add_bos_token says so. SentencePiece-style (`llama`)
vocabularies have no merge list to rebuild a BPE from; for those use the HF folder.
"""
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
