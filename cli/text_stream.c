#include "cli/text_stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/stdout_check.h"
#include "common/error.h"

void mot_text_stream_init(mot_text_stream *s, const mot_tokenizer *tok, FILE *out) {
    memset(s, 0, sizeof *s);
    s->tok = tok;
    s->out = out;
}

static mot_status write_failed(const mot_text_stream *s, int err) {
    if (s->out == stdout) {
        return mot_stdout_fail(err);
    }
    return mot_fail(MOT_ERR_IO, "writing the generated text: %s", strerror(err ? err : EIO));
}

static mot_status emit(mot_text_stream *s, int final) {
    if (s->err != MOT_OK) {
        return s->err;
    }
    char *text;
    size_t len; /* in bytes: a <0x00> token decodes to a NUL that strlen would stop at */
    MOT_TRY(mot_tokenizer_decode_len(s->tok, s->ids, s->n, 1, &text, &len));
    /* Trailing U+FFFDs may be a multi-byte character whose last bytes have not arrived. */
    static const char repl[] = "\xEF\xBF\xBD";
    while (!final && len >= s->printed + 3 && memcmp(text + len - 3, repl, 3) == 0) {
        len -= 3;
    }
    if (len > s->printed) {
        const size_t n = len - s->printed;
        errno = 0;
        if (fwrite(text + s->printed, 1, n, s->out) != n || fflush(s->out) != 0) {
            s->err = write_failed(s, errno);
        }
        s->printed = len;
    }
    free(text);
    return s->err;
}

mot_status mot_text_stream_push(mot_text_stream *s, int token) {
    if (s->n == s->cap) {
        int ncap = s->cap ? 2 * s->cap : 64;
        int *p = realloc(s->ids, (size_t)ncap * sizeof *p);
        if (!p) {
            return mot_fail(MOT_ERR_NOMEM, "text stream: out of memory");
        }
        s->ids = p;
        s->cap = ncap;
    }
    s->ids[s->n++] = token;
    return emit(s, 0);
}

mot_status mot_text_stream_finish(mot_text_stream *s) { return emit(s, 1); }

void mot_text_stream_free(mot_text_stream *s) {
    free(s->ids);
    memset(s, 0, sizeof *s);
}

int mot_text_stream_on_token(void *stream, int token) { return mot_text_stream_push(stream, token) != MOT_OK; }

mot_status mot_text_stream_end(mot_text_stream *s, mot_status st) {
    if (st == MOT_OK) {
        st = mot_text_stream_finish(s);
    }
    if (s->err == MOT_OK) {
        errno = 0;
        if (fputc('\n', s->out) == EOF || fflush(s->out) != 0) {
            s->err = write_failed(s, errno);
        }
    }
    if (st == MOT_OK) {
        st = s->err; /* also when a failed write stopped the generation early (status OK) */
    }
    mot_text_stream_free(s);
    return st;
}
