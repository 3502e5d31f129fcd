/* Growable byte strings, id lists and piece lists used across the tokenizer. */
#ifndef MOT_TOKENIZER_TOK_BUF_H
#define MOT_TOKENIZER_TOK_BUF_H

#include <stddef.h>

#include "mot.h"

/* Bytes, always NUL-terminated once anything was appended (data may be NULL while empty). */
typedef struct {
    char *data;
    size_t len, cap;
} tok_buf;

/* Token ids. */
typedef struct {
    int *data;
    size_t len, cap;
} tok_ids;

/* One piece of text on its way through the pipeline. at_start: the piece begins at offset 0
 * of the original text (Metaspace's prepend_scheme "first" needs it). */
typedef struct {
    char *s;
    size_t len;
    int at_start;
} tok_piece;

typedef struct {
    tok_piece *data;
    size_t len, cap;
} tok_pieces;

mot_status tok_buf_append(tok_buf *b, const void *p, size_t n);
mot_status tok_buf_append_str(tok_buf *b, const char *s);
void tok_buf_free(tok_buf *b);

mot_status tok_ids_push(tok_ids *v, int id);
mot_status tok_ids_append(tok_ids *v, const int *ids, size_t n);
void tok_ids_free(tok_ids *v);

/* Copies s[0..len) into a new piece. */
mot_status tok_pieces_push(tok_pieces *v, const char *s, size_t len, int at_start);
/* Takes ownership of the buffer (b is left empty). */
mot_status tok_pieces_push_buf(tok_pieces *v, tok_buf *b, int at_start);
void tok_pieces_free(tok_pieces *v);

mot_status tok_nomem(void);
/* Grows *data (elements of elem bytes, capacity *cap) to hold at least need elements,
 * doubling; "tokenizer: out of memory" on failure, *data then unchanged. */
mot_status tok_grow(void **data, size_t *cap, size_t need, size_t elem);

#endif
