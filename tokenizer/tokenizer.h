/* Hugging Face tokenizer.json (BPE models of the Llama and Mistral families), with
 * tokenizer_config.json for add_bos_token / add_eos_token and special-token names. */
#ifndef MOT_TOKENIZER_TOKENIZER_H
#define MOT_TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "mot.h"

typedef struct mot_tokenizer mot_tokenizer;

/* Loads DIR/tokenizer.json (+ DIR/tokenizer_config.json when present), or, when DIR is a
 * GGUF file, its tokenizer.ggml.* arrays (mot_tokenizer_load_gguf). An unsupported
 * component is an error naming it: "DIR/tokenizer.json: pre_tokenizer type 'Whitespace'
 * is not supported". */
mot_status mot_tokenizer_load(const char *dir, mot_tokenizer **out);
void mot_tokenizer_free(mot_tokenizer *tok);

/* A vocabulary given as arrays, as a GGUF file's tokenizer.ggml.* keys give it, instead of
 * a tokenizer.json. Built into the same engine: model "gpt2" is byte-level BPE with the
 * pre-tokenizer that `pre` names (llama.cpp's names: "default", "llama-bpe", "smollm", ...;
 * see tokenizer/vocab_pre.c); model "llama" is SentencePiece-style BPE (merges ranked by the
 * merged piece's score, byte fallback, "▁" for spaces). Unknown and control tokens become
 * special added tokens, user-defined ones non-special added tokens, matched in the raw text.
 * Defaults when the file does not say: add_bos true for llama (and for the llama3 and tekken
 * pre-tokenizers), false otherwise; add_eos false; add_space_prefix true; for llama, BOS 1,
 * EOS 2 and unk 0 (llama.cpp's). Nothing here is borrowed: the tokenizer copies. */
typedef struct {
    const char *model;          /* tokenizer.ggml.model: "gpt2" or "llama" */
    const char *pre;            /* tokenizer.ggml.pre, or NULL ("default") */
    int n_tokens;
    char *const *tokens;        /* [n_tokens] tokenizer.ggml.tokens */
    const float *scores;        /* [n_tokens] or NULL */
    const int32_t *token_types; /* [n_tokens] or NULL: 1 normal, 2 unknown, 3 control,
                                 * 4 user-defined, 5 unused, 6 byte */
    int n_merges;
    char *const *merges;        /* [n_merges] "left right", or NULL */
    int bos_id, eos_id, unk_id, pad_id; /* -1 when the file has none */
    int add_bos, add_eos;       /* -1 when the file does not say (then: the model's default) */
    int add_space_prefix;       /* -1 when the file does not say */
    const char *chat_template;  /* tokenizer.chat_template, or NULL */
    int n_scores, n_token_types; /* the lengths of scores / token_types as the file gives them,
                                  * checked against n_tokens; 0: n_tokens (not checked) */
} mot_vocab_spec;

/* The tokenizer of a GGUF file (its metadata only is read). */
mot_status mot_tokenizer_load_gguf(const char *path, mot_tokenizer **out);

/* source names the file in messages ("FILE.gguf: tokenizer.ggml.merges[7]: ..."). */
mot_status mot_tokenizer_from_vocab(const mot_vocab_spec *spec, const char *source, mot_tokenizer **out);

/* The model's chat template (tokenizer_config.json's chat_template, or a GGUF file's
 * tokenizer.chat_template), or NULL when it has none. */
const char *mot_tokenizer_chat_template(const mot_tokenizer *tok);

/* Encodes UTF-8 text. add_special: add BOS (and EOS) as the post-processor /
 * tokenizer_config ask (what HF's encode(add_special_tokens=True) does).
 * *ids is malloc'd, caller frees. */
mot_status mot_tokenizer_encode(const mot_tokenizer *tok, const char *text, int add_special,
                                int **ids, int *n_ids);

/* Decodes ids to UTF-8 (skip_special: drop special/added tokens flagged special, as HF's
 * skip_special_tokens=True). *text is malloc'd and NUL-terminated. Invalid UTF-8 from
 * partial byte tokens becomes U+FFFD as in HF. */
mot_status mot_tokenizer_decode(const mot_tokenizer *tok, const int *ids, int n_ids, int skip_special,
                                char **text);

/* As mot_tokenizer_decode, also giving the byte length: decoded text may hold NUL bytes
 * (a <0x00> or byte-level NUL token), which a C string would cut short. */
mot_status mot_tokenizer_decode_len(const mot_tokenizer *tok, const int *ids, int n_ids, int skip_special,
                                    char **text, size_t *len);

/* The ids that encode(add_special=1) puts before the text: the post-processor's prefix
 * (Llama-3's <|begin_of_text|>), or BOS when tokenizer_config.json adds it; *ids points into
 * the tokenizer. Returns their count (0: none). Chat prompts use it to add BOS unless the
 * rendered template already starts with it (runtime/chat_prompt.c). */
int mot_tokenizer_prefix(const mot_tokenizer *tok, const int **ids);

int mot_tokenizer_vocab_size(const mot_tokenizer *tok);  /* highest id + 1 */
int mot_tokenizer_bos_id(const mot_tokenizer *tok);      /* -1 when none */
int mot_tokenizer_eos_id(const mot_tokenizer *tok);      /* -1 when none */
const char *mot_tokenizer_token(const mot_tokenizer *tok, int id); /* raw piece or NULL */

#endif
