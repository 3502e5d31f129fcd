/* The tokenizer's parts as loaded from tokenizer.json. Private to tokenizer/. Every
 * `Sequence` component is flattened into a list of steps at load time. */
#ifndef MOT_TOKENIZER_TOK_INTERNAL_H
#define MOT_TOKENIZER_TOK_INTERNAL_H

#include <jansson.h>

#include "tokenizer/hash_maps.h"
#include "tokenizer/pattern.h"
#include "tokenizer/tok_buf.h"
#include "tokenizer/tokenizer.h"

/* ---- model: BPE ---- */
typedef struct {
    char **tokens;      /* [n_tokens] the model's token strings by id (NULL for holes) */
    int n_tokens;       /* highest model id + 1 */
    tok_str_map vocab;  /* token -> id; keys point into tokens */
    tok_pair_map merges; /* (left id, right id) -> (rank, merged id) */
    int unk_id;         /* -1 when there is no unk_token */
    int byte_fallback, fuse_unk, ignore_merges;
    int byte_ids[256];  /* id of "<0xNN>", -1 when absent */
} tok_bpe;

/* Reusable buffers for encoding one word. */
typedef struct {
    struct tok_symbol *syms;
    size_t syms_cap;
    struct tok_merge_cand *heap;
    size_t heap_cap;
} tok_bpe_scratch;

mot_status tok_bpe_load(tok_bpe *m, const json_t *model, const char *file);
void tok_bpe_free(tok_bpe *m);
/* Fills byte_ids from the vocab (the "<0xNN>" tokens). */
void tok_bpe_find_byte_tokens(tok_bpe *m);
/* The ids of a merge's left and right pieces and of their concatenation (ids[0..2]; joined
 * is scratch and holds the concatenation). Returns -1 when all three are in the vocab, else
 * which one is missing (0 left, 1 right, 2 merged), or -2 when out of memory. */
int tok_bpe_merge_ids(const tok_bpe *m, const char *l, size_t ll, const char *r, size_t rl, tok_buf *joined,
                      int ids[3]);
/* GGUF token types (tokenizer.ggml.token_type) that change how a token is treated. */
enum { TOK_TYPE_UNKNOWN = 2, TOK_TYPE_CONTROL = 3, TOK_TYPE_USER_DEFINED = 4, TOK_TYPE_BYTE = 6 };
/* A vocabulary given as arrays (mot_tokenizer_from_vocab): the tokens, then the merges from
 * their strings (model gpt2) or from the pieces' scores (model llama). */
mot_status tok_bpe_from_vocab(tok_bpe *m, const mot_vocab_spec *spec, const char *source);
/* Appends the ids of one pre-token (word) to out. */
mot_status tok_bpe_encode_word(const tok_bpe *m, const char *word, size_t len, tok_bpe_scratch *scratch,
                               tok_ids *out);
void tok_bpe_scratch_free(tok_bpe_scratch *s);

/* ---- added tokens ---- */
typedef struct {
    char *content; /* as written in tokenizer.json */
    size_t len;
    char *match;   /* the text matched: content, normalized when `normalized` is set */
    size_t match_len;
    int id;
    int special, lstrip, rstrip, single_word, normalized;
} tok_added;

/* Candidates by first byte, longest first, so the first hit is the longest match. */
typedef struct {
    int *by_byte[256]; /* indices into the added array, -1 terminated; NULL when none */
} tok_added_matcher;

/* One stretch of text: an added token (id >= 0) or plain text (id -1). */
typedef struct {
    size_t start, end;
    int id;
} tok_segment;

typedef struct {
    tok_segment *data;
    size_t len, cap;
} tok_segments;

/* n_vocab: the vocabulary's entries, for the id limit (tok_limits.h). */
mot_status tok_added_load(const json_t *arr, const char *file, size_t n_vocab, tok_added **out, size_t *n);
void tok_added_free(tok_added *a, size_t n);
/* Builds the matcher over the tokens whose `normalized` flag equals `normalized`. */
mot_status tok_added_matcher_build(tok_added_matcher *m, const tok_added *a, size_t n, int normalized);
void tok_added_matcher_free(tok_added_matcher *m);
/* Splits s[0..n) at the added tokens (HF's AddedVocabulary::find_matches). */
mot_status tok_added_find(const tok_added_matcher *m, const tok_added *a, const char *s, size_t n,
                          tok_segments *out);

/* ---- normalizer ---- */
typedef enum { TOK_NORM_PREPEND, TOK_NORM_REPLACE } tok_norm_kind;

typedef struct {
    tok_norm_kind kind;
    char *content;       /* prepended text, or the replacement */
    tok_pattern pattern; /* Replace only */
} tok_norm_step;

mot_status tok_normalizer_load(const json_t *j, const char *file, tok_norm_step **steps, size_t *n);
void tok_normalizer_free(tok_norm_step *steps, size_t n);
/* Normalizes s[0..n) into out. */
/* Error: the text growing past tok_growth_limit(n) (tok_limits.h), "FILE: normalizer
 * Replace: text of 1 byte grows beyond 1048577 bytes (...)", MOT_ERR_ARG. */
mot_status tok_normalize(const tok_norm_step *steps, size_t n_steps, const char *s, size_t n, const char *file,
                         tok_buf *out);

/* ---- pre-tokenizer ---- */
typedef enum { TOK_PRE_SPLIT, TOK_PRE_BYTE_LEVEL, TOK_PRE_METASPACE, TOK_PRE_DIGITS } tok_pre_kind;

typedef enum { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER } tok_prepend_scheme;

typedef struct {
    tok_pre_kind kind;
    tok_pattern pattern;          /* Split, ByteLevel (use_regex), Metaspace (split), Digits */
    int has_pattern;
    int invert;                   /* Split */
    tok_split_behavior behavior;  /* Split, Digits */
    int add_prefix_space;         /* ByteLevel */
    char replacement[8];          /* Metaspace, UTF-8 */
    tok_prepend_scheme prepend;   /* Metaspace */
} tok_pre_step;

mot_status tok_pretokenizer_load(const json_t *j, const char *file, tok_pre_step **steps, size_t *n);
void tok_pretokenizer_free(tok_pre_step *steps, size_t n);
/* Replaces *pieces by their pre-tokens. */
mot_status tok_pretokenize(const tok_pre_step *steps, size_t n_steps, tok_pieces *pieces);
/* Parses a Metaspace prepend scheme (new "prepend_scheme" or legacy "add_prefix_space"). */
mot_status tok_parse_prepend_scheme(const json_t *j, const char *where, tok_prepend_scheme *out);

/* ---- post-processor ---- */
typedef struct {
    int present;     /* a post_processor object was given (not null) */
    tok_ids prefix;  /* ids before the sequence ($A) */
    tok_ids suffix;  /* ids after it */
} tok_post;

mot_status tok_post_load(const json_t *j, const char *file, tok_post *out);
void tok_post_free(tok_post *p);

/* ---- decoder ---- */
typedef enum {
    TOK_DEC_BYTE_LEVEL,
    TOK_DEC_REPLACE,
    TOK_DEC_BYTE_FALLBACK,
    TOK_DEC_FUSE,
    TOK_DEC_STRIP,
    TOK_DEC_METASPACE
} tok_dec_kind;

typedef struct {
    tok_dec_kind kind;
    tok_pattern pattern; /* Replace */
    char *content;       /* Replace: the replacement */
    uint32_t strip_cp;   /* Strip: the character */
    int strip_start, strip_stop;
    uint32_t replacement; /* Metaspace */
    tok_prepend_scheme prepend;
} tok_dec_step;

mot_status tok_decoder_load(const json_t *j, const char *file, tok_dec_step **steps, size_t *n);
void tok_decoder_free(tok_dec_step *steps, size_t n);
/* Runs the decoder chain over the token strings and joins the result into out. With no
 * steps, tokens are joined with spaces (HF without a decoder). Error: Replace steps growing
 * the text past tok_growth_limit of the tokens' bytes, "FILE: decoder Replace: decoded text
 * grows beyond N bytes" (MOT_ERR_ARG). */
mot_status tok_decode_tokens(const tok_dec_step *steps, size_t n_steps, int has_decoder, const char *file,
                             tok_pieces *tokens, tok_buf *out);

/* ---- the whole tokenizer ---- */
struct mot_tokenizer {
    char *file;             /* DIR/tokenizer.json, for messages */
    tok_bpe bpe;
    tok_added *added;
    size_t n_added;
    tok_added_matcher raw_matcher;  /* added tokens matched in the raw text */
    tok_added_matcher norm_matcher; /* normalized ones, matched after normalization */
    int has_norm_added;
    tok_norm_step *norm;
    size_t n_norm;
    tok_pre_step *pre;
    size_t n_pre;
    tok_dec_step *dec;
    size_t n_dec;
    int has_decoder;
    tok_post post;
    int add_bos, add_eos;   /* from tokenizer_config.json (used when the post-processor adds nothing) */
    int bos_id, eos_id;
    int vocab_size;
    const char **id_to_token; /* [vocab_size] added token content first, then the model's */
    unsigned char *is_special; /* [vocab_size] */
    char *chat_template;    /* NULL when the model has none */
};

/* Once the parts are loaded: the added-token matchers (normalizing the tokens flagged
 * `normalized`) and the id -> token and is-special tables. */
mot_status tok_build_tables(mot_tokenizer *tok);

/* The pre-tokenizer a GGUF file names (tokenizer.ggml.pre), for byte-level BPE, with the
 * name's ignore_merges and add_bos defaults. An unknown name is an error naming it. */
mot_status tok_vocab_pretokenizer(const char *name, const char *source, tok_pre_step **steps, size_t *n,
                                  int *ignore_merges, int *add_bos);

/* A model folder's chat template: tokenizer_config.json's chat_template (cfg, NULL when the
 * folder has no config), a string or a list of {"name", "template"} of which the one named
 * "default" is taken; else DIR/chat_template.jinja. *out is NULL when there is none. */
mot_status tok_load_chat_template(const json_t *cfg, const char *cfg_path, const char *dir, char **out);

/* The id of a token string (added tokens first, then the model vocab), -1 when unknown. */
int tok_token_to_id(const mot_tokenizer *tok, const char *s);

#endif
