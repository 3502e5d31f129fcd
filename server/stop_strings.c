/* Stop strings over a streamed reply (stop_strings.h). */
#include "server/stop_strings.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

void mot_stop_strings_init(mot_stop_strings *s, char *const *stop, int n_stop) {
    memset(s, 0, sizeof *s);
    s->stop = stop, s->n_stop = n_stop;
}

/* The longest end of text[from..len) that is a proper prefix of some stop string: it may
 * still become one. */
static size_t held_back(const mot_stop_strings *s, size_t from) {
    size_t hold = 0;
    for (int i = 0; i < s->n_stop; i++) {
        const size_t sl = strlen(s->stop[i]);
        for (size_t k = sl - 1 < s->len - from ? sl - 1 : s->len - from; k > hold; k--) {
            if (!memcmp(s->text + s->len - k, s->stop[i], k)) {
                hold = k;
                break;
            }
        }
    }
    return hold;
}

mot_status mot_stop_strings_push(mot_stop_strings *s, const char *piece, size_t n, const char **out,
                                 size_t *out_len) {
    *out = s->text ? s->text + s->given : "", *out_len = 0;
    if (s->stopped || n == 0) {
        return MOT_OK;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        while (cap < s->len + n + 1) cap *= 2;
        char *t = realloc(s->text, cap);
        if (!t) {
            return mot_fail(MOT_ERR_NOMEM, "out of memory (a reply of %zu bytes)", s->len + n);
        }
        s->text = t, s->cap = cap;
    }
    memcpy(s->text + s->len, piece, n);
    s->len += n;
    s->text[s->len] = 0;
    /* A stop string cannot begin before `given` (what could was held back), so only the
     * held-back end and the new piece are searched; the earliest stop string wins. */
    size_t cut = s->len;
    for (int i = 0; i < s->n_stop; i++) {
        const char *hit = memmem(s->text + s->given, s->len - s->given, s->stop[i], strlen(s->stop[i]));
        if (hit && (size_t)(hit - s->text) < cut) {
            cut = (size_t)(hit - s->text);
            s->stopped = 1;
        }
    }
    const size_t from = s->given;
    if (s->stopped) {
        s->len = cut;
        s->text[cut] = 0;
    }
    const size_t upto = s->stopped ? cut : s->len - held_back(s, from);
    *out = s->text + from, *out_len = upto - from;
    s->given = upto;
    return MOT_OK;
}

void mot_stop_strings_finish(mot_stop_strings *s, const char **out, size_t *out_len) {
    *out = s->text ? s->text + s->given : "";
    *out_len = s->len - s->given;
    s->given = s->len;
}

void mot_stop_strings_free(mot_stop_strings *s) {
    free(s->text);
    memset(s, 0, sizeof *s);
}
