/* A loaded tokenizer's lookup tables (token text -> id, the added-token matchers), the small
 * accessors and free: shared by the tokenizer.json and GGUF loaders. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/tok_internal.h"

int tok_token_to_id(const mot_tokenizer *tok, const char *s) {
    for (size_t i = 0; i < tok->n_added; i++) {
        if (strcmp(tok->added[i].content, s) == 0) {
            return tok->added[i].id;
        }
    }
    return tok_str_map_get(&tok->bpe.vocab, s, strlen(s));
}

/* id -> text (added tokens take precedence, as in HF, in their normalized form when they are
 * matched after normalization) and which ids are special. */
static mot_status build_id_table(mot_tokenizer *tok) {
    int size = tok->bpe.n_tokens;
    for (size_t i = 0; i < tok->n_added; i++) {
        if (tok->added[i].id + 1 > size) {
            size = tok->added[i].id + 1;
        }
    }
    tok->vocab_size = size;
    tok->id_to_token = calloc(size ? size : 1, sizeof(char *));
    tok->is_special = calloc(size ? size : 1, 1);
    if (!tok->id_to_token || !tok->is_special) {
        return tok_nomem();
    }
    for (int id = 0; id < tok->bpe.n_tokens; id++) {
        tok->id_to_token[id] = tok->bpe.tokens[id];
    }
    for (size_t i = 0; i < tok->n_added; i++) {
        tok->id_to_token[tok->added[i].id] = tok->added[i].match;
        tok->is_special[tok->added[i].id] |= (unsigned char)tok->added[i].special;
    }
    return MOT_OK;
}

/* Added tokens flagged `normalized` are matched in normalized text, so their own text is
 * normalized too (HF's AddedVocabulary::refresh_added_tokens). */
static mot_status build_matchers(mot_tokenizer *tok) {
    for (size_t i = 0; i < tok->n_added; i++) {
        tok_added *t = &tok->added[i];
        if (!t->normalized) {
            continue;
        }
        tok->has_norm_added = 1;
        tok_buf norm = {0};
        MOT_TRY(tok_normalize(tok->norm, tok->n_norm, t->content, t->len, tok->file, &norm));
        free(t->match);
        t->match = norm.data;
        t->match_len = norm.len;
    }
    MOT_TRY(tok_added_matcher_build(&tok->raw_matcher, tok->added, tok->n_added, 0));
    return tok_added_matcher_build(&tok->norm_matcher, tok->added, tok->n_added, 1);
}

mot_status tok_build_tables(mot_tokenizer *tok) {
    MOT_TRY(build_matchers(tok));
    return build_id_table(tok);
}

void mot_tokenizer_free(mot_tokenizer *tok) {
    if (!tok) {
        return;
    }
    tok_bpe_free(&tok->bpe);
    tok_added_free(tok->added, tok->n_added);
    tok_added_matcher_free(&tok->raw_matcher);
    tok_added_matcher_free(&tok->norm_matcher);
    tok_normalizer_free(tok->norm, tok->n_norm);
    tok_pretokenizer_free(tok->pre, tok->n_pre);
    tok_decoder_free(tok->dec, tok->n_dec);
    tok_post_free(&tok->post);
    free(tok->id_to_token);
    free(tok->is_special);
    free(tok->chat_template);
    free(tok->file);
    free(tok);
}

int mot_tokenizer_vocab_size(const mot_tokenizer *tok) { return tok->vocab_size; }
const char *mot_tokenizer_chat_template(const mot_tokenizer *tok) { return tok->chat_template; }
int mot_tokenizer_bos_id(const mot_tokenizer *tok) { return tok->bos_id; }
int mot_tokenizer_eos_id(const mot_tokenizer *tok) { return tok->eos_id; }

const char *mot_tokenizer_token(const mot_tokenizer *tok, int id) {
    return (id >= 0 && id < tok->vocab_size) ? tok->id_to_token[id] : NULL;
}
