#include "runtime/token_log.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

mot_status mot_token_log_push(mot_token_log *log, int token, const float *logits, int vocab, const char *who) {
    if (log->n == log->cap) {
        int ncap = log->cap ? 2 * log->cap : 64;
        int *t = realloc(log->tokens, (size_t)ncap * sizeof *t);
        if (!t) {
            return mot_fail(MOT_ERR_NOMEM, "%sout of memory", who);
        }
        log->tokens = t;
        if (logits) {
            float *l = realloc(log->logits, (size_t)ncap * vocab * sizeof *l);
            if (!l) {
                return mot_fail(MOT_ERR_NOMEM, "%sout of memory keeping logits", who);
            }
            log->logits = l;
        }
        log->cap = ncap;
    }
    if (logits) {
        memcpy(log->logits + (size_t)log->n * vocab, logits, (size_t)vocab * sizeof *logits);
    }
    log->tokens[log->n++] = token;
    return MOT_OK;
}

void mot_token_log_free(mot_token_log *log) {
    free(log->tokens);
    free(log->logits);
    memset(log, 0, sizeof *log);
}
