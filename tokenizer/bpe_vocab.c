/* The BPE model of a vocabulary given as arrays (a GGUF file's tokenizer.ggml.*): the tokens
 * by id, then the merges, either listed ("left right", model gpt2) or, for SentencePiece-style
 * vocabularies (model llama), which list none, derived from the pieces' scores. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/tok_internal.h"


static mot_status load_tokens(tok_bpe *m, const mot_vocab_spec *spec, const char *source) {
    m->n_tokens = spec->n_tokens;
    m->tokens = calloc((size_t)spec->n_tokens, sizeof(char *));
    if (!m->tokens) {
        return tok_nomem();
    }
    for (int id = 0; id < spec->n_tokens; id++) {
        const char *t = spec->tokens[id];
        if (!t) {
            return mot_fail(MOT_ERR_FORMAT, "%s: tokenizer.ggml.tokens[%d] is missing", source, id);
        }
        if (!t[0]) {
            continue; /* an empty piece can never be matched: leave a hole (llama.cpp renames it) */
        }
        m->tokens[id] = strdup(t);
        if (!m->tokens[id]) {
            return tok_nomem();
        }
        /* A string given twice maps to its last id, as in llama.cpp's token_to_id. */
        MOT_TRY(tok_str_map_put(&m->vocab, m->tokens[id], strlen(t), id));
    }
    tok_bpe_find_byte_tokens(m);
    return MOT_OK;
}

/* Merges as listed, ranked by position. Each is split at its first space after the first
 * byte, as llama.cpp does. */
static mot_status listed_merges(tok_bpe *m, const mot_vocab_spec *spec, const char *source) {
    if (!spec->merges) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tokenizer.ggml.merges is missing (model gpt2 needs its merges)", source);
    }
    tok_buf joined = {0};
    mot_status st = MOT_OK;
    for (int i = 0; st == MOT_OK && i < spec->n_merges; i++) {
        const char *s = spec->merges[i];
        const char *space = s && s[0] ? strchr(s + 1, ' ') : NULL;
        if (!space) {
            st = mot_fail(MOT_ERR_FORMAT, "%s: tokenizer.ggml.merges[%d] '%s': expected two tokens separated by a space",
                          source, i, s ? s : "(null)");
            break;
        }
        size_t ll = (size_t)(space - s), rl = strlen(space + 1);
        int ids[3];
        int missing = tok_bpe_merge_ids(m, s, ll, space + 1, rl, &joined, ids);
        if (missing == -2) {
            st = tok_nomem();
        } else if (missing >= 0) {
            const char *piece = missing == 0 ? s : missing == 1 ? space + 1 : joined.data;
            size_t len = missing == 0 ? ll : missing == 1 ? rl : joined.len;
            st = mot_fail(MOT_ERR_FORMAT, "%s: tokenizer.ggml.merges[%d] '%s': %s'%.*s' is not in tokenizer.ggml.tokens",
                          source, i, s, missing == 2 ? "the merged token " : "", (int)len, piece);
        } else if (!tok_pair_map_get(&m->merges, ids[0], ids[1])) {
            /* A repeated pair keeps its first rank (llama.cpp's bpe_ranks.emplace). */
            st = tok_pair_map_put(&m->merges, ids[0], ids[1], i, ids[2]);
        }
    }
    tok_buf_free(&joined);
    return st;
}

typedef struct {
    float score;
    int merged, left, right;
} score_merge;

/* Higher score first; ties by the merged piece's id, then the parts' ids: the order of HF's
 * SentencePieceExtractor, which writes the merges of LlamaTokenizerFast's tokenizer.json. */
static int by_score(const void *pa, const void *pb) {
    const score_merge *a = pa, *b = pb;
    if (a->score != b->score) {
        return a->score > b->score ? -1 : 1;
    }
    if (a->merged != b->merged) {
        return a->merged < b->merged ? -1 : 1;
    }
    if (a->left != b->left) {
        return a->left < b->left ? -1 : 1;
    }
    return (a->right > b->right) - (a->right < b->right);
}

/* Unknown, control and byte pieces are never made by merging (SentencePiece keeps them out
 * of its piece table); normal, user-defined and unused ones are. */
static int mergeable(const mot_vocab_spec *spec, const tok_bpe *m, int id) {
    if (id < 0 || !m->tokens[id]) {
        return 0;
    }
    int type = spec->token_types ? spec->token_types[id] : 1;
    return type != TOK_TYPE_UNKNOWN && type != TOK_TYPE_CONTROL && type != TOK_TYPE_BYTE;
}

/* SentencePiece BPE merges the adjacent pair whose concatenation has the highest score.
 * The same as a merge list: every (prefix, suffix) split of every piece with both halves in
 * the vocabulary, ranked by the piece's score. O(V * piece length) look-ups, each hashing up
 * to the piece's length: pieces over MAX_MERGED_PIECE_BYTES are not split (real
 * SentencePiece vocabularies' pieces are a few dozen bytes at most; a 100 KB piece in a
 * hostile file took 14 s, quadratic in its length), so merging never produces them. */
enum { MAX_MERGED_PIECE_BYTES = 1024 };
static mot_status score_merges(tok_bpe *m, const mot_vocab_spec *spec, const char *source) {
    if (!spec->scores) {
        return mot_fail(MOT_ERR_FORMAT,
                        "%s: tokenizer.ggml.scores is missing (model llama ranks its merges by the pieces' scores)",
                        source);
    }
    score_merge *list = NULL;
    size_t n = 0, cap = 0;
    for (int id = 0; id < m->n_tokens; id++) {
        if (!mergeable(spec, m, id)) {
            continue;
        }
        const char *p = m->tokens[id];
        size_t len = strlen(p);
        if (len > MAX_MERGED_PIECE_BYTES) {
            continue; /* never made by merging (see above): bounds the work on hostile files */
        }
        for (size_t k = 1; k < len; k++) {
            if (((unsigned char)p[k] & 0xC0) == 0x80) {
                continue; /* split between characters only */
            }
            int left = tok_str_map_get(&m->vocab, p, k), right = tok_str_map_get(&m->vocab, p + k, len - k);
            if (!mergeable(spec, m, left) || !mergeable(spec, m, right)) {
                continue;
            }
            if (tok_grow((void **)&list, &cap, n + 1, sizeof *list) != MOT_OK) {
                free(list);
                return MOT_ERR_NOMEM;
            }
            list[n++] = (score_merge){spec->scores[id], id, left, right};
        }
    }
    if (n > 1) {
        qsort(list, n, sizeof *list, by_score); /* list is NULL when n is 0 (UBSan: qsort's nonnull) */
    }
    mot_status st = MOT_OK;
    for (size_t i = 0; st == MOT_OK && i < n; i++) {
        if (!tok_pair_map_get(&m->merges, list[i].left, list[i].right)) {
            st = tok_pair_map_put(&m->merges, list[i].left, list[i].right, (int)i, list[i].merged);
        }
    }
    free(list);
    return st;
}

mot_status tok_bpe_from_vocab(tok_bpe *m, const mot_vocab_spec *spec, const char *source) {
    *m = (tok_bpe){0};
    m->unk_id = -1;
    MOT_TRY(load_tokens(m, spec, source));
    if (strcmp(spec->model, "gpt2") == 0) {
        return listed_merges(m, spec, source);
    }
    /* LlamaTokenizerFast's model: byte fallback, runs of unknown characters fused into one
     * unk; llama.cpp's SPM defaults to unk 0 when the file names none. */
    m->byte_fallback = 1;
    m->fuse_unk = 1;
    m->unk_id = spec->unk_id >= 0 ? spec->unk_id : 0;
    return score_merges(m, spec, source);
}
