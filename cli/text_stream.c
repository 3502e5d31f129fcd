#include "cli/text_stream.h"

#include <string.h>

#include "common/error.h"

void mot_text_stream_init(mot_text_stream *s, const mot_tokenizer *tok, FILE *out) {
    memset(s, 0, sizeof *s);
    mot_decode_stream_init(&s->dec, tok, 1);
    s->out = out;
}

static void print(mot_text_stream *s, const char *text, size_t len) {
    if (len > 0) { /* in bytes: a <0x00> token decodes to a NUL that fputs would stop at */
        fwrite(text, 1, len, s->out);
        fflush(s->out);
    }
}

mot_status mot_text_stream_push(mot_text_stream *s, int token) {
    const char *text;
    size_t len;
    MOT_TRY(mot_decode_stream_push(&s->dec, token, &text, &len));
    print(s, text, len);
    return MOT_OK;
}

mot_status mot_text_stream_finish(mot_text_stream *s) {
    const char *text;
    size_t len;
    MOT_TRY(mot_decode_stream_finish(&s->dec, &text, &len));
    print(s, text, len);
    return MOT_OK;
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
    fputc('\n', s->out);
    fflush(s->out);
    mot_text_stream_free(s);
    return st;
}
