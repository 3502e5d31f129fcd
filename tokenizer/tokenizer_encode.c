/* encode: added tokens -> normalizer -> pre-tokenizer -> BPE -> post-processor, per HF's
 * Tokenizer::encode; decode: ids -> token strings -> decoder chain. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/utf8.h"

/* Pre-tokenizes one stretch of normalized text and appends its BPE ids. */
static mot_status encode_normalized_text(const mot_tokenizer *tok, const char *s, size_t n, int at_start,
                                         tok_bpe_scratch *scratch, tok_ids *out) {
    if (n == 0) {
        return MOT_OK;
    }
    tok_pieces pieces = {0};
    mot_status st = tok_pieces_push(&pieces, s, n, at_start);
    if (st == MOT_OK) {
        st = tok_pretokenize(tok->pre, tok->n_pre, &pieces);
    }
    for (size_t i = 0; st == MOT_OK && i < pieces.len; i++) {
        st = tok_bpe_encode_word(&tok->bpe, pieces.data[i].s, pieces.data[i].len, scratch, out);
    }
    tok_pieces_free(&pieces);
    return st;
}

/* One stretch of raw text between added tokens: normalize, then match the added tokens
 * that are matched in normalized text, then the rest. */
static mot_status encode_text(const mot_tokenizer *tok, const char *s, size_t n, int at_start,
                              tok_bpe_scratch *scratch, tok_ids *out) {
    tok_buf norm = {0};
    MOT_TRY(tok_normalize(tok->norm, tok->n_norm, s, n, tok->file, &norm));
    mot_status st = MOT_OK;
    if (!tok->has_norm_added) {
        st = encode_normalized_text(tok, norm.data, norm.len, at_start, scratch, out);
    } else {
        tok_segments segs = {0};
        st = tok_added_find(&tok->norm_matcher, tok->added, norm.data, norm.len, &segs);
        for (size_t i = 0; st == MOT_OK && i < segs.len; i++) {
            const tok_segment *g = &segs.data[i];
            st = g->id >= 0 ? tok_ids_push(out, g->id)
                            : encode_normalized_text(tok, norm.data + g->start, g->end - g->start,
                                                     at_start && g->start == 0, scratch, out);
        }
        free(segs.data);
    }
    tok_buf_free(&norm);
    return st;
}

/* See load_config in tokenizer_load.c for the rule. */
static mot_status add_specials(const mot_tokenizer *tok, const tok_ids *body, tok_ids *out) {
    int post_adds = tok->post.prefix.len + tok->post.suffix.len > 0;
    if (post_adds) {
        MOT_TRY(tok_ids_append(out, tok->post.prefix.data, tok->post.prefix.len));
    } else if (tok->add_bos && tok->bos_id >= 0) {
        MOT_TRY(tok_ids_push(out, tok->bos_id));
    }
    MOT_TRY(tok_ids_append(out, body->data, body->len));
    if (post_adds) {
        MOT_TRY(tok_ids_append(out, tok->post.suffix.data, tok->post.suffix.len));
    } else if (tok->add_eos && tok->eos_id >= 0) {
        MOT_TRY(tok_ids_push(out, tok->eos_id));
    }
    return MOT_OK;
}

int mot_tokenizer_prefix(const mot_tokenizer *tok, const int **ids) {
    if (tok->post.prefix.len + tok->post.suffix.len > 0) { /* the same rule as add_specials */
        *ids = tok->post.prefix.data;
        return (int)tok->post.prefix.len;
    }
    *ids = &tok->bos_id;
    return tok->add_bos && tok->bos_id >= 0;
}

mot_status mot_tokenizer_encode(const mot_tokenizer *tok, const char *text, int add_special, int **ids,
                                int *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    size_t n = strlen(text);
    if (!tok_utf8_is_valid(text, n)) {
        return mot_fail(MOT_ERR_ARG, "%s: cannot encode text that is not valid UTF-8", tok->file);
    }
    tok_segments segs = {0};
    tok_ids body = {0}, all = {0};
    tok_bpe_scratch scratch = {0};
    mot_status st = tok_added_find(&tok->raw_matcher, tok->added, text, n, &segs);
    for (size_t i = 0; st == MOT_OK && i < segs.len; i++) {
        const tok_segment *g = &segs.data[i];
        st = g->id >= 0 ? tok_ids_push(&body, g->id)
                        : encode_text(tok, text + g->start, g->end - g->start, g->start == 0, &scratch, &body);
    }
    if (st == MOT_OK) {
        st = add_special ? add_specials(tok, &body, &all) : tok_ids_append(&all, body.data, body.len);
    }
    if (st == MOT_OK && all.len == 0) {
        st = tok_ids_push(&all, 0); /* keep a valid allocation for an empty result */
        all.len = 0;
    }
    free(segs.data);
    tok_ids_free(&body);
    tok_bpe_scratch_free(&scratch);
    if (st != MOT_OK) {
        tok_ids_free(&all);
        return st;
    }
    *ids = all.data;
    *n_ids = (int)all.len;
    return MOT_OK;
}

mot_status mot_tokenizer_decode(const mot_tokenizer *tok, const int *ids, int n_ids, int skip_special,
                                char **text) {
    size_t len;
    return mot_tokenizer_decode_len(tok, ids, n_ids, skip_special, text, &len);
}

mot_status mot_tokenizer_decode_len(const mot_tokenizer *tok, const int *ids, int n_ids, int skip_special,
                                    char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    tok_pieces tokens = {0};
    mot_status st = MOT_OK;
    /* Unknown ids are skipped, as HF does. */
    for (int i = 0; st == MOT_OK && i < n_ids; i++) {
        int id = ids[i];
        if (id < 0 || id >= tok->vocab_size || !tok->id_to_token[id] || (skip_special && tok->is_special[id])) {
            continue;
        }
        st = tok_pieces_push(&tokens, tok->id_to_token[id], strlen(tok->id_to_token[id]), 0);
    }
    tok_buf out = {0};
    if (st == MOT_OK) {
        st = tok_decode_tokens(tok->dec, tok->n_dec, tok->has_decoder, tok->file, &tokens, &out);
    }
    if (st == MOT_OK && !out.data) {
        st = tok_buf_append(&out, "", 0);
    }
    tok_pieces_free(&tokens);
    if (st != MOT_OK) {
        tok_buf_free(&out);
        return st;
    }
    *text = out.data;
    *len = out.len;
    return MOT_OK;
}
