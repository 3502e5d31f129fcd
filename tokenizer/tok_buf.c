#include "tokenizer/tok_buf.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

mot_status tok_nomem(void) { return mot_fail(MOT_ERR_NOMEM, "tokenizer: out of memory"); }

mot_status tok_grow(void **data, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) {
        return MOT_OK;
    }
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need) {
        ncap *= 2;
    }
    void *p = realloc(*data, ncap * elem);
    if (!p) {
        return tok_nomem();
    }
    *data = p;
    *cap = ncap;
    return MOT_OK;
}

mot_status tok_buf_append(tok_buf *b, const void *p, size_t n) {
    MOT_TRY(tok_grow((void **)&b->data, &b->cap, b->len + n + 1, 1));
    if (n) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return MOT_OK;
}

mot_status tok_buf_append_str(tok_buf *b, const char *s) { return tok_buf_append(b, s, strlen(s)); }

void tok_buf_free(tok_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

mot_status tok_ids_push(tok_ids *v, int id) {
    MOT_TRY(tok_grow((void **)&v->data, &v->cap, v->len + 1, sizeof(int)));
    v->data[v->len++] = id;
    return MOT_OK;
}

mot_status tok_ids_append(tok_ids *v, const int *ids, size_t n) {
    MOT_TRY(tok_grow((void **)&v->data, &v->cap, v->len + n, sizeof(int)));
    if (n) {
        memcpy(v->data + v->len, ids, n * sizeof(int));
    }
    v->len += n;
    return MOT_OK;
}

void tok_ids_free(tok_ids *v) {
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

mot_status tok_pieces_push(tok_pieces *v, const char *s, size_t len, int at_start) {
    tok_buf b = {0};
    MOT_TRY(tok_buf_append(&b, s, len));
    mot_status st = tok_pieces_push_buf(v, &b, at_start);
    tok_buf_free(&b);
    return st;
}

mot_status tok_pieces_push_buf(tok_pieces *v, tok_buf *b, int at_start) {
    MOT_TRY(tok_grow((void **)&v->data, &v->cap, v->len + 1, sizeof(tok_piece)));
    if (!b->data) {
        MOT_TRY(tok_buf_append(b, "", 0));
    }
    v->data[v->len++] = (tok_piece){b->data, b->len, at_start};
    *b = (tok_buf){0};
    return MOT_OK;
}

void tok_pieces_free(tok_pieces *v) {
    for (size_t i = 0; i < v->len; i++) {
        free(v->data[i].s);
    }
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}
