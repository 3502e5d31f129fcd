/* The tokens a generation sampled and, when kept (--dump), each one's logits row. */
#ifndef MOT_RUNTIME_TOKEN_LOG_H
#define MOT_RUNTIME_TOKEN_LOG_H

#include "mot.h"

typedef struct {
    int *tokens;   /* [n] */
    float *logits; /* [n, vocab] when rows are kept, else NULL */
    int n, cap;    /* cap doubles from 64 */
} mot_token_log;

/* Appends token and, when logits (its row [vocab]) is non-NULL, a copy of that row. who
 * prefixes the out-of-memory message ("generate: ", or ""). */
mot_status mot_token_log_push(mot_token_log *log, int token, const float *logits, int vocab, const char *who);
void mot_token_log_free(mot_token_log *log);

#endif
