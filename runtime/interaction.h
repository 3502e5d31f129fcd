/* The pieces of an interaction layer (SPEC 1.3, 1.4) that are not plain linear layers:
 * the latent layernorm and the primary's multi-head cross-attention with the mask. */
#ifndef MOT_RUNTIME_INTERACTION_H
#define MOT_RUNTIME_INTERACTION_H

/* One active expert's interaction keys/values at one stack. */
typedef struct {
    const float *k;   /* [rows, d_s] */
    const float *v;   /* [rows, d_s] */
    int rows;         /* keys present now (prompt + decode steps fed, this one included) */
    int n_prompt;     /* N_m: its prompt length in its own tokens */
} mot_kv_segment;

/* out[n_q, d_s] = concat_h softmax(q_h k_h^T / sqrt(d_h) + mask) v_h over every segment's keys.
 * prefill: query i sees key j of segment m iff ceil((j+1) N_p / N_m) - 1 <= i, i.e. the first
 * floor((i+1) N_m / N_p) keys (N_p = n_q, the primary's prompt length). decode (prefill = 0):
 * every present key. scratch: [omp_get_max_threads(), total keys] floats. */
void mot_cross_attention(float *out, const float *q, int n_q, int heads, int d_s,
                         const mot_kv_segment *seg, int n_seg, int prefill, float *scratch);

/* out[n, d] = (x - mean) / sqrt(var + eps) * w + b  (PyTorch LayerNorm, biased variance). */
void mot_layernorm(float *out, const float *x, const float *w, const float *b, int n, int d, float eps);

#endif
