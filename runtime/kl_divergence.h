/* KL divergence of a model's next-token distributions from a base model's, over the scored
 * positions of a perplexity run (runtime/perplexity.h), as llama-perplexity's
 * --kl-divergence-base / --kl-divergence compute it: how much a quantization (or a precision)
 * changes what a model predicts, token by token.
 *
 * The base file is llama.cpp's, byte for byte, so each program reads the other's:
 *   "_logits_", u32 n_ctx, i32 n_vocab, i32 n_chunk, i32 tokens[n_chunk][n_ctx] (as the text
 *   encodes, before a chunk's first token becomes BOS), then for each chunk and each scored
 *   position (n_ctx - 1 - n_ctx / 2 of them) one row of nv = 2 * ((n_vocab + 1) / 2) + 4 u16:
 *   f32 scale, f32 min_log_prob, then q[n_vocab]: log p_i = min_log_prob + scale * q[i], where
 *   the floor (q = 0) is max(min logit, max logit - 16) - max logit - log sum exp. Little-endian. */
#ifndef MOT_RUNTIME_KL_DIVERGENCE_H
#define MOT_RUNTIME_KL_DIVERGENCE_H

#include <stdint.h>
#include <stdio.h>

#include "mot.h"
#include "runtime/row_softmax.h"

/* u16 values a row of the base file holds for a vocabulary. */
int mot_kld_row_values(int vocab);

/* The base row of logits[vocab] (out[mot_kld_row_values(vocab)]); sm: the row's softmax. */
void mot_kld_compress_row(const float *logits, int vocab, const mot_row_softmax *sm, uint16_t *out);

/* One scored position compared with its base row. */
typedef struct {
    double nll, nll_base;  /* -log p(target), under the model and under the base (nats) */
    double kld;            /* sum_i p_base,i (log p_base,i - log p_i) over the base's p_i > e^-16 */
    double p_diff;         /* p(target) - p_base(target) */
    int same_top;          /* the two arg-maxes (the first of ties) agree */
} mot_kld_row;

void mot_kld_compare_row(const float *logits, int vocab, const mot_row_softmax *sm, const uint16_t *base, int target,
                         mot_kld_row *r);

/* Running sums of a comparison, in the order rows are added, and every row's KLD and p_diff
 * (for the percentiles). */
typedef struct {
    double nll, nll2, nll_base, nll_base2, nll_nll_base, kld, kld2, p_diff, p_diff2, p_diff4;
    long long count, same_top;
    float *kld_values, *p_diff_values; /* [count] */
    long long cap;
} mot_kld_stats;

mot_status mot_kld_stats_add(mot_kld_stats *s, const mot_kld_row *rows, int n);
void mot_kld_stats_free(mot_kld_stats *s);

/* A base file opened for reading: the header and tokens read and checked against the size the
 * header implies (a truncated or padded file is refused before any work). */
typedef struct {
    FILE *f;
    const char *path;
    int n_ctx, n_vocab, n_chunk, scored;
    int32_t *tokens; /* [n_chunk * n_ctx] */
} mot_kld_base;

mot_status mot_kld_base_open(mot_kld_base *b, const char *path, int model_vocab);
/* The next chunk's rows [scored][mot_kld_row_values(n_vocab)]. */
mot_status mot_kld_base_read_chunk(mot_kld_base *b, int chunk, uint16_t *rows);
void mot_kld_base_close(mot_kld_base *b);

/* Writing one: the header and tokens, then each chunk's rows in order. */
mot_status mot_kld_base_write_header(FILE *f, const char *path, int n_ctx, int vocab, int n_chunk,
                                     const int32_t *tokens);
mot_status mot_kld_base_write_chunk(FILE *f, const char *path, const uint16_t *rows, int scored, int vocab);

#endif
