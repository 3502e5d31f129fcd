#include "cli/text_stream.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

/* Standard output, checked (text_stream.h). */
mot_status mot_stdout_fail(int err) {
    return mot_fail(MOT_ERR_IO, "writing standard output: %s", strerror(err ? err : EIO));
}

int mot_stdout_finish(int rc) {
    errno = 0;
    int err = 0;
    if (fflush(stdout) != 0) {
        err = errno ? errno : EIO;
    } else if (ferror(stdout)) {
        err = EIO; /* an earlier write failed and its buffer was dropped */
    }
    if (!err || rc != 0) {
        return rc;
    }
    mot_stdout_fail(err);
    fprintf(stderr, "error: %s\n", mot_last_error());
    return 1;
}

void mot_text_stream_init(mot_text_stream *s, const mot_tokenizer *tok, FILE *out) {
    memset(s, 0, sizeof *s);
    mot_decode_stream_init(&s->dec, tok, 1);
    s->out = out;
}

static mot_status write_failed(const mot_text_stream *s, int err) {
    if (s->out == stdout) {
        return mot_stdout_fail(err);
    }
    return mot_fail(MOT_ERR_IO, "writing the generated text: %s", strerror(err ? err : EIO));
}

static mot_status print(mot_text_stream *s, const char *text, size_t len) {
    if (s->err == MOT_OK && len > 0) { /* in bytes: a <0x00> token decodes to a NUL */
        errno = 0;
        if (fwrite(text, 1, len, s->out) != len || fflush(s->out) != 0) {
            s->err = write_failed(s, errno);
        }
    }
    return s->err;
}

mot_status mot_text_stream_push(mot_text_stream *s, int token) {
    if (s->err != MOT_OK) {
        return s->err;
    }
    const char *text;
    size_t len;
    MOT_TRY(mot_decode_stream_push(&s->dec, token, &text, &len));
    return print(s, text, len);
}

mot_status mot_text_stream_finish(mot_text_stream *s) {
    if (s->err != MOT_OK) {
        return s->err;
    }
    const char *text;
    size_t len;
    MOT_TRY(mot_decode_stream_finish(&s->dec, &text, &len));
    return print(s, text, len);
}

void mot_text_stream_free(mot_text_stream *s) {
    mot_decode_stream_free(&s->dec);
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
