/* mot_tokenizer_from_vocab: the tokenizer of a vocabulary given as arrays (a GGUF file's
 * tokenizer.ggml.* keys), put together from the parts a tokenizer.json would give:
 *   gpt2:  byte-level BPE with the listed merges, the pre-tokenizer tokenizer.ggml.pre names
 *          (vocab_pre.c), the ByteLevel decoder;
 *   llama: what LlamaTokenizerFast's tokenizer.json holds (legacy form, as llama.cpp's SPM
 *          tokenizer behaves): normalizer Prepend("▁") (unless add_space_prefix is 0) then
 *          Replace(" ", "▁"), no pre-tokenizer, BPE with byte fallback and merges ranked by
 *          score (bpe_vocab.c), decoder Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0).
 * Unknown (2), control (3) and user-defined (4) tokens are added tokens matched in the raw
 * text, the first two special: what convert_hf_to_gguf.py made of HF's added tokens, and what
 * llama.cpp matches before tokenizing. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tok_limits.h"

#define SPIECE "\xE2\x96\x81" /* ▁ */


static mot_status check_id(int id, const char *key, const mot_vocab_spec *spec, const char *source) {
    if (id < -1 || id >= spec->n_tokens) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tokenizer.ggml.%s %d is out of range (%d tokens)", source, key, id,
                        spec->n_tokens);
    }
    return MOT_OK;
}

static mot_status check_length(const void *array, int n, const char *key, const mot_vocab_spec *spec,
                               const char *source) {
    if (array && n != 0 && n != spec->n_tokens) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tokenizer.ggml.%s has %d entries for %d tokens", source, key, n,
                        spec->n_tokens);
    }
    return MOT_OK;
}

static mot_status check_spec(const mot_vocab_spec *spec, const char *source) {
    if (!spec->model) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tokenizer.ggml.model is missing", source);
    }
    if (strcmp(spec->model, "gpt2") != 0 && strcmp(spec->model, "llama") != 0) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model '%s' is not supported (gpt2 or llama)", source,
                        spec->model);
    }
    if (spec->n_tokens <= 0 || !spec->tokens) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tokenizer.ggml.tokens is missing or empty", source);
    }
    if (spec->n_tokens > MOT_TOK_MAX_VOCAB) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tokenizer.ggml.tokens: %d tokens, more than the limit %d", source,
                        spec->n_tokens, MOT_TOK_MAX_VOCAB);
    }
    if (spec->n_merges < 0 || (spec->n_merges > 0 && !spec->merges)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tokenizer.ggml.merges: %d merges given without their strings", source,
                        spec->n_merges);
    }
    MOT_TRY(check_length(spec->scores, spec->n_scores, "scores", spec, source));
    MOT_TRY(check_length(spec->token_types, spec->n_token_types, "token_type", spec, source));
    MOT_TRY(check_id(spec->bos_id, "bos_token_id", spec, source));
    MOT_TRY(check_id(spec->eos_id, "eos_token_id", spec, source));
    MOT_TRY(check_id(spec->unk_id, "unknown_token_id", spec, source));
    return check_id(spec->pad_id, "padding_token_id", spec, source);
}

static int is_added_type(int type) {
    return type == TOK_TYPE_UNKNOWN || type == TOK_TYPE_CONTROL || type == TOK_TYPE_USER_DEFINED;
}

static mot_status typed_added_tokens(mot_tokenizer *tok, const mot_vocab_spec *spec) {
    if (!spec->token_types) {
        return MOT_OK;
    }
    size_t count = 0;
    for (int id = 0; id < spec->n_tokens; id++) {
        count += is_added_type(spec->token_types[id]) && spec->tokens[id][0];
    }
    tok->added = calloc(count ? count : 1, sizeof *tok->added);
    if (!tok->added) {
        return tok_nomem();
    }
    for (int id = 0; id < spec->n_tokens; id++) {
        if (!is_added_type(spec->token_types[id]) || !spec->tokens[id][0]) {
            continue;
        }
        tok_added *t = &tok->added[tok->n_added++];
        t->id = id;
        t->special = spec->token_types[id] != TOK_TYPE_USER_DEFINED;
        t->len = t->match_len = strlen(spec->tokens[id]);
        t->content = strdup(spec->tokens[id]);
        t->match = strdup(spec->tokens[id]);
        if (!t->content || !t->match) {
            return tok_nomem();
        }
    }
    return MOT_OK;
}

static mot_status spm_normalizer(mot_tokenizer *tok, int add_space_prefix) {
    tok->norm = calloc(2, sizeof *tok->norm);
    if (!tok->norm) {
        return tok_nomem();
    }
    if (add_space_prefix) {
        tok_norm_step *p = &tok->norm[tok->n_norm++];
        p->kind = TOK_NORM_PREPEND;
        if (!(p->content = strdup(SPIECE))) {
            return tok_nomem();
        }
    }
    tok_norm_step *r = &tok->norm[tok->n_norm++];
    r->kind = TOK_NORM_REPLACE;
    if (!(r->content = strdup(SPIECE))) {
        return tok_nomem();
    }
    return tok_pattern_literal(&r->pattern, " ", 1);
}

static mot_status spm_decoder(mot_tokenizer *tok) {
    tok->dec = calloc(4, sizeof *tok->dec);
    if (!tok->dec) {
        return tok_nomem();
    }
    tok->n_dec = 4;
    tok->dec[0].kind = TOK_DEC_REPLACE;
    tok->dec[1].kind = TOK_DEC_BYTE_FALLBACK;
    tok->dec[2].kind = TOK_DEC_FUSE;
    tok->dec[3] = (tok_dec_step){.kind = TOK_DEC_STRIP, .strip_cp = ' ', .strip_start = 1, .strip_stop = 0};
    if (!(tok->dec[0].content = strdup(" "))) {
        return tok_nomem();
    }
    return tok_pattern_literal(&tok->dec[0].pattern, SPIECE, strlen(SPIECE));
}

static mot_status byte_level_decoder(mot_tokenizer *tok) {
    tok->dec = calloc(1, sizeof *tok->dec);
    if (!tok->dec) {
        return tok_nomem();
    }
    tok->n_dec = 1;
    tok->dec[0].kind = TOK_DEC_BYTE_LEVEL;
    return MOT_OK;
}

static mot_status build(mot_tokenizer *tok, const mot_vocab_spec *spec, const char *source) {
    MOT_TRY(check_spec(spec, source));
    int spm = strcmp(spec->model, "llama") == 0;
    MOT_TRY(tok_bpe_from_vocab(&tok->bpe, spec, source));
    MOT_TRY(typed_added_tokens(tok, spec));
    tok->has_decoder = 1;
    int add_bos_default = 1;
    if (spm) {
        MOT_TRY(spm_normalizer(tok, spec->add_space_prefix != 0));
        MOT_TRY(spm_decoder(tok));
    } else {
        MOT_TRY(tok_vocab_pretokenizer(spec->pre ? spec->pre : "default", source, &tok->pre, &tok->n_pre,
                                       &tok->bpe.ignore_merges, &add_bos_default));
        MOT_TRY(byte_level_decoder(tok));
    }
    MOT_TRY(tok_build_tables(tok));
    /* As llama.cpp: SPM vocabularies default to <s> = 1 and </s> = 2 when the file names none. */
    tok->bos_id = spec->bos_id >= 0 ? spec->bos_id : spm && spec->n_tokens > 2 ? 1 : -1;
    tok->eos_id = spec->eos_id >= 0 ? spec->eos_id : spm && spec->n_tokens > 2 ? 2 : -1;
    tok->add_bos = spec->add_bos >= 0 ? spec->add_bos != 0 : add_bos_default;
    tok->add_eos = spec->add_eos > 0;
    if (spec->chat_template && !(tok->chat_template = strdup(spec->chat_template))) {
        return tok_nomem();
    }
    return MOT_OK;
}

mot_status mot_tokenizer_from_vocab(const mot_vocab_spec *spec, const char *source, mot_tokenizer **out) {
    *out = NULL;
    mot_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok || !(tok->file = strdup(source))) {
        free(tok);
        return tok_nomem();
    }
    mot_status st = build(tok, spec, source);
    if (st != MOT_OK) {
        mot_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return MOT_OK;
}
