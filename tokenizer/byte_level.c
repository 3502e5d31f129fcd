#include "tokenizer/byte_level.h"

#include "common/error.h"

#include <pthread.h>

#include "tokenizer/utf8.h"

const char tok_gpt2_regex[] = TOK_GPT2_REGEX;

static int kept_as_is(unsigned b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

uint32_t tok_byte_to_cp(unsigned char b) {
    if (kept_as_is(b)) {
        return b;
    }
    /* The n-th byte not kept as is maps to 256 + n. */
    uint32_t n = 0;
    for (unsigned i = 0; i < b; i++) {
        n += !kept_as_is(i);
    }
    return 256 + n;
}

int tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) {
        return kept_as_is(cp) ? (int)cp : -1;
    }
    uint32_t n = 0;
    for (unsigned i = 0; i < 256; i++) {
        if (!kept_as_is(i)) {
            if (256 + n == cp) {
                return (int)i;
            }
            n++;
        }
    }
    return -1;
}

/* Each byte's code point, UTF-8 encoded (at most 2 bytes: all are below U+0800). */
static char enc[256][2];
static unsigned char enc_len[256];
static pthread_once_t enc_once = PTHREAD_ONCE_INIT;

static void build_enc(void) {
    for (unsigned b = 0; b < 256; b++) {
        enc_len[b] = (unsigned char)tok_utf8_encode(tok_byte_to_cp((unsigned char)b), enc[b]);
    }
}

mot_status tok_bytes_to_unicode(tok_buf *out, const char *s, size_t n) {
    pthread_once(&enc_once, build_enc);
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        MOT_TRY(tok_buf_append(out, enc[b], enc_len[b]));
    }
    return MOT_OK;
}

int tok_unicode_to_bytes(const char *s, size_t n, tok_buf *out, mot_status *st) {
    size_t start = out->len;
    *st = MOT_OK;
    for (size_t i = 0; i < n;) {
        size_t len;
        uint32_t cp = tok_utf8_decode(s + i, &len);
        int b = tok_cp_to_byte(cp);
        if (b < 0) {
            out->len = start;
            return 0;
        }
        char c = (char)b;
        if ((*st = tok_buf_append(out, &c, 1)) != MOT_OK) {
            return 0;
        }
        i += len;
    }
    return 1;
}
