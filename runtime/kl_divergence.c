#include "runtime/kl_divergence.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"

_Static_assert(sizeof(float) == 4 && sizeof(uint16_t) == 2, "the base file's layout");

static const char magic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};

int mot_kld_row_values(int vocab) { return 2 * ((vocab + 1) / 2) + 4; }

void mot_kld_compress_row(const float *logits, int vocab, const mot_row_softmax *sm, uint16_t *out) {
    const float max = sm->max;
    float min = logits[0];
    for (int i = 1; i < vocab; i++) min = logits[i] < min ? logits[i] : min;
    min = min > max - 16.0f ? min : max - 16.0f; /* what lies below e^-16 of the top is floor */
    const float head[2] = {(max - min) / 65535.0f, (float)((double)min - sm->log_z)};
    memcpy(out, head, sizeof head);
    uint16_t *q = out + 4;
    if (head[0] == 0.0f) {
        memset(q, 0, (size_t)vocab * sizeof *q);
        return;
    }
    const float inv = 1.0f / head[0];
    for (int i = 0; i < vocab; i++) {
        const float v = logits[i] > min ? rintf(inv * (logits[i] - min)) : 0.0f; /* nearest, ties even */
        q[i] = (uint16_t)(v > 65535.0f ? 65535.0f : v);
    }
}

void mot_kld_compare_row(const float *logits, int vocab, const mot_row_softmax *sm, const uint16_t *base, int target,
                         mot_kld_row *r) {
    float head[2];
    memcpy(head, base, sizeof head);
    const uint16_t *q = base + 4;
    const double log_z = sm->log_z; /* log p_i = x_i - log_z */
    double kld = 0.0, top = 0.0;
    int arg_base = 0;
    for (int i = 0; i < vocab; i++) {
        const double lp_base = (double)head[0] * q[i] + (double)head[1];
        if (i == 0 || lp_base > top) top = lp_base, arg_base = i;
        if (lp_base > -16.0) kld += exp(lp_base) * (lp_base - ((double)logits[i] - log_z));
    }
    r->nll = log_z - (double)logits[target];
    r->nll_base = -((double)head[0] * q[target] + (double)head[1]);
    r->kld = kld;
    r->p_diff = exp(-r->nll) - exp(-r->nll_base);
    r->same_top = sm->arg == arg_base;
}

mot_status mot_kld_stats_add(mot_kld_stats *s, const mot_kld_row *rows, int n) {
    if (s->count + n > s->cap) {
        long long cap = s->cap ? s->cap : 4096;
        while (cap < s->count + n) cap *= 2;
        float *k = realloc(s->kld_values, (size_t)cap * sizeof *k);
        if (k) s->kld_values = k;
        float *p = k ? realloc(s->p_diff_values, (size_t)cap * sizeof *p) : NULL;
        if (!p) {
            return mot_fail(MOT_ERR_NOMEM, "KL divergence: out of memory for %lld values", cap);
        }
        s->p_diff_values = p, s->cap = cap;
    }
    for (int i = 0; i < n; i++) {
        const mot_kld_row *r = &rows[i];
        s->nll += r->nll, s->nll2 += r->nll * r->nll;
        s->nll_base += r->nll_base, s->nll_base2 += r->nll_base * r->nll_base;
        s->nll_nll_base += r->nll * r->nll_base;
        s->kld += r->kld, s->kld2 += r->kld * r->kld;
        const double d2 = r->p_diff * r->p_diff;
        s->p_diff += r->p_diff, s->p_diff2 += d2, s->p_diff4 += d2 * d2;
        s->same_top += r->same_top;
        s->kld_values[s->count] = (float)r->kld;
        s->p_diff_values[s->count] = (float)r->p_diff;
        s->count++;
    }
    return MOT_OK;
}

void mot_kld_stats_free(mot_kld_stats *s) {
    free(s->kld_values);
    free(s->p_diff_values);
    memset(s, 0, sizeof *s);
}

/* 20 + n_chunk x per_chunk bytes, as a number when it fits in 64 bits. */
static const char *bytes_text(const mot_kld_base *b, uint64_t per_chunk) {
    static _Thread_local char text[48];
    if (per_chunk > (UINT64_MAX - 20) / (uint64_t)b->n_chunk) {
        return "more than 2^64 bytes";
    }
    snprintf(text, sizeof text, "%llu", (unsigned long long)(20 + per_chunk * (uint64_t)b->n_chunk));
    return text;
}

static mot_status read_exact(mot_kld_base *b, void *dst, size_t bytes, const char *what) {
    if (fread(dst, 1, bytes, b->f) != bytes) {
        return mot_fail(MOT_ERR_FORMAT, "%s: cannot read %s (%s)", b->path, what,
                        ferror(b->f) ? strerror(errno) : "the file ends early");
    }
    return MOT_OK;
}

mot_status mot_kld_base_open(mot_kld_base *b, const char *path, int model_vocab) {
    memset(b, 0, sizeof *b);
    b->path = path;
    struct stat st;
    if (stat(path, &st) != 0) {
        return mot_fail(MOT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return mot_fail(MOT_ERR_IO, "%s: not a regular file", path);
    }
    b->f = fopen(path, "rb");
    if (!b->f) {
        return mot_fail(MOT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    char m[8];
    int32_t h[3];
    MOT_TRY(read_exact(b, m, sizeof m, "the header"));
    if (memcmp(m, magic, sizeof m) != 0) {
        return mot_fail(MOT_ERR_FORMAT, "%s: not a KL-divergence base file (it does not start with \"_logits_\": "
                                        "write one with --kl-divergence-base FILE and a text, -f)",
                        path);
    }
    MOT_TRY(read_exact(b, h, sizeof h, "the header"));
    b->n_ctx = h[0], b->n_vocab = h[1], b->n_chunk = h[2];
    if (b->n_ctx < 4 || b->n_ctx > (1 << 20) || b->n_chunk < 1 || b->n_chunk > (1 << 24)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: header says n_ctx %d and %d chunks (expected 4 .. 1048576 and >= 1)",
                        path, b->n_ctx, b->n_chunk);
    }
    if (b->n_vocab != model_vocab) {
        return mot_fail(MOT_ERR_ARG, "%s: the base model's vocabulary has %d tokens, this model's %d (the two must "
                                     "share a tokenizer)",
                        path, b->n_vocab, model_vocab);
    }
    b->scored = b->n_ctx - 1 - b->n_ctx / 2;
    /* 20 bytes of header, then per chunk its tokens and its rows: no product can wrap */
    const uint64_t tokens = (uint64_t)b->n_ctx * (uint64_t)b->n_chunk;
    const uint64_t per_chunk = 4 * (uint64_t)b->n_ctx + (uint64_t)b->scored * mot_kld_row_values(b->n_vocab) * 2;
    const uint64_t size = (uint64_t)st.st_size;
    if (size < 20 || (size - 20) % per_chunk != 0 || (size - 20) / per_chunk != (uint64_t)b->n_chunk) {
        return mot_fail(MOT_ERR_FORMAT, "%s: %llu bytes, but %d chunks of %d tokens over a vocabulary of %d make %s "
                                        "(a truncated or damaged file)",
                        path, (unsigned long long)size, b->n_chunk, b->n_ctx, b->n_vocab, bytes_text(b, per_chunk));
    }
    b->tokens = malloc((size_t)tokens * sizeof *b->tokens);
    if (!b->tokens) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory for %llu tokens", path, (unsigned long long)tokens);
    }
    MOT_TRY(read_exact(b, b->tokens, (size_t)tokens * sizeof *b->tokens, "the tokens"));
    for (uint64_t i = 0; i < tokens; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= b->n_vocab) {
            return mot_fail(MOT_ERR_FORMAT, "%s: token %llu is %d, outside the vocabulary [0, %d)", path,
                            (unsigned long long)i, b->tokens[i], b->n_vocab);
        }
    }
    return MOT_OK;
}

mot_status mot_kld_base_read_chunk(mot_kld_base *b, int chunk, uint16_t *rows) {
    char what[64];
    snprintf(what, sizeof what, "chunk %d's log-probabilities", chunk + 1);
    const int nv = mot_kld_row_values(b->n_vocab);
    MOT_TRY(read_exact(b, rows, (size_t)b->scored * nv * sizeof *rows, what));
    for (int i = 0; i < b->scored; i++) { /* a row's scale and floor: a step >= 0, a log-probability <= 0 */
        float head[2];
        memcpy(head, rows + (size_t)i * nv, sizeof head);
        if (!isfinite(head[0]) || !isfinite(head[1]) || head[0] < 0.0f || head[1] > 0.0f) {
            return mot_fail(MOT_ERR_FORMAT, "%s: chunk %d, row %d: scale %g and floor %g (expected a finite scale >= 0 "
                                            "and a log-probability <= 0)",
                            b->path, chunk + 1, i + 1, head[0], head[1]);
        }
    }
    return MOT_OK;
}

void mot_kld_base_close(mot_kld_base *b) {
    if (b->f) fclose(b->f);
    free(b->tokens);
    memset(b, 0, sizeof *b);
}

mot_status mot_kld_base_write_header(FILE *f, const char *path, int n_ctx, int vocab, int n_chunk,
                                     const int32_t *tokens) {
    const int32_t h[3] = {n_ctx, vocab, n_chunk};
    const size_t n = (size_t)n_ctx * n_chunk;
    if (fwrite(magic, 1, sizeof magic, f) != sizeof magic || fwrite(h, sizeof *h, 3, f) != 3 ||
        fwrite(tokens, sizeof *tokens, n, f) != n) {
        return mot_fail(MOT_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return MOT_OK;
}

mot_status mot_kld_base_write_chunk(FILE *f, const char *path, const uint16_t *rows, int scored, int vocab) {
    const size_t n = (size_t)scored * mot_kld_row_values(vocab);
    if (fwrite(rows, sizeof *rows, n, f) != n) {
        return mot_fail(MOT_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return MOT_OK;
}
