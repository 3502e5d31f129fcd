/* CPU kernels (OpenMP, AVX2/FMA/F16C). Each has a plain reference in ops/ that the tests
 * hold it to. All activations are f32; weights may be f32, f16, bf16 or block-quantized.
 * Threading (kernels/cpu/team.h): called from outside a parallel region, a kernel opens its
 * own with omp_get_max_threads() threads; called by every thread of a running team (the plan
 * executor's region), it splits its work over that team and returns after a barrier. */
#ifndef MOT_KERNELS_CPU_KERNELS_H
#define MOT_KERNELS_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "common/weight.h"

/* y[n, rows] = x[n, cols] . W^T, f32 accumulation. n == 1 is the decode GEMV (memory bound),
 * n > 1 the prefill GEMM. y and x do not alias. */
void mot_cpu_matmul(float *y, const float *x, const mot_weight *w, int n);

/* Token rows from which mot_cpu_matmul uses the packed GEMM instead of the GEMV, for f32 and
 * for f16/bf16 weights (defaults 8 and 8, measured in matmul.c; schedules may change them). */
void mot_cpu_set_gemm_from(int f32, int lowp);
/* The same for the block-quantized weights (Q8_0 ... Q6_K; default measured in matmul.c). */
void mot_cpu_set_gemm_from_quant(int quant);

/* How the decode GEMV streams block-quantized rows (schedule key quant_gemv; the measurements
 * in kernels/cpu/matmul_gemv.c): INTERLEAVED (several runs of rows side by side, a row of
 * each in turn, software prefetch ahead), SEQUENTIAL (rows in order, hardware prefetch only)
 * or LOCKSTEP (4 runs read in lockstep, a group of blocks of each row in turn, where the
 * type has such a dot: mot_cpu_quant_fdot4_fn; sequential otherwise). AUTO picks INTERLEAVED
 * on Intel CPUs and LOCKSTEP elsewhere. */
enum { MOT_QUANT_GEMV_AUTO = 0, MOT_QUANT_GEMV_INTERLEAVED = 1, MOT_QUANT_GEMV_SEQUENTIAL = 2, MOT_QUANT_GEMV_LOCKSTEP = 3 };
void mot_cpu_set_quant_gemv(int mode);
/* The mode in force (AUTO resolved), and what AUTO picks on this CPU. */
int mot_cpu_quant_gemv_mode(void);
int mot_cpu_quant_gemv_auto(void);

/* The packed GEMM's blocking: kc columns of k per block, mc tokens per chunk (rounded down to
 * a multiple of 4). Defaults measured in kernels/cpu/matmul_gemm.c; schedules may change them. */
#define MOT_GEMM_KC_DEFAULT 256
#define MOT_GEMM_MC_DEFAULT 512
void mot_cpu_set_gemm_blocking(int kc, int mc);

/* Several matmuls that read the same x: y_j[n, rows_j] = x[n, cols] . W_j^T (q/k/v, gate/up).
 * Same result as separate mot_cpu_matmul calls; decode runs them in one parallel region.
 * bias and accumulate are for the GEMV only (see mot_cpu_matmul_is_gemv). */
typedef struct {
    float *y;
    const mot_weight *w;
    const float *bias; /* [rows_j] added to each product, or NULL */
    int accumulate;    /* y_j += product (+ bias) instead of y_j = ... */
} mot_matmul_job;
void mot_cpu_matmul_multi(const mot_matmul_job *jobs, int n_jobs, const float *x, int n);

/* Whether mot_cpu_matmul_multi takes the GEMV for these jobs and n tokens: then it also adds
 * the jobs' biases and accumulates, each output element once, in the same order as a
 * separate y = x W^T; y += bias; out += y would (so decode needs no extra passes, and no
 * barriers between them). */
int mot_cpu_matmul_is_gemv(const mot_matmul_job *jobs, int n_jobs, int n);

/* What the decode GEMV may do around its products, so that no pass (and no barrier) is
 * needed between it and the ops before and after it:
 *   norm_w: x goes through RMSNorm first (mot_cpu_rmsnorm with norm_w, norm_eps, the same
 *     bits); norm_out [n, cols] also receives the normed rows, or is NULL;
 *   swiglu: the two jobs are gate and up (equal rows, no bias, no accumulate), and afterwards
 *     gate = silu(gate) * up as mot_cpu_swiglu computes it (the same bits). */
typedef struct {
    const float *norm_w;
    float norm_eps;
    float *norm_out;
    int swiglu;
} mot_gemv_fusion;

/* The fused RMSNorm keeps n * cols floats on each thread's stack. */
#define MOT_GEMV_FUSE_MAX_FLOATS 8192

/* Whether mot_cpu_matmul_gemv_fused can run these jobs at n tokens with f. */
int mot_cpu_gemv_can_fuse(const mot_matmul_job *jobs, int n_jobs, int n, const mot_gemv_fusion *f);
/* The decode GEMV of mot_cpu_matmul_multi with the fusions f (NULL: none). */
void mot_cpu_matmul_gemv_fused(const mot_matmul_job *jobs, int n_jobs, const float *x, int n,
                               const mot_gemv_fusion *f);

/* out[d] = row `row` of table [rows, d] converted to f32. */
void mot_cpu_embed_row(float *out, const mot_weight *table, int64_t row);

/* Rotary embedding in place, HF rotate-half layout, on q [n, n_heads, hd] and k [n, n_kv, hd]:
 * for each head h and i < hd/2,
 *   (x[i], x[i + hd/2]) <- (x[i] c - x[i + hd/2] s, x[i + hd/2] c + x[i] s),
 * c = cos(pos_t * inv_freq[i]), s = sin(...), pos_t = pos0 + t; then k and v [n, n_kv, hd]
 * into position pos0 + t of the caches kc, vc (kv head g of position j at j * kv_stride +
 * g * head_stride floats): one pass over the tokens, so one barrier. */
void mot_cpu_rope_append(float *q, float *k, const float *v, float *kc, float *vc, int64_t kv_stride,
                         int64_t head_stride, int n, int n_heads, int n_kv, int hd, int pos0, const float *inv_freq);

/* k, v [n, d] into rows rows0.. of the latent caches kc, vc [ctx, d]: the LATENT_APPEND op
 * (kernels/cpu/cross_attention.c). */
void mot_cpu_latent_append(float *kc, float *vc, const float *k, const float *v, int n, int d, int rows0);

/* out[n, d] = x * rsqrt(mean(x^2) + eps) * w  (HF LlamaRMSNorm: f32 math). out may equal x. */
void mot_cpu_rmsnorm(float *out, const float *x, const float *w, int n, int d, float eps);

/* out[n, f] = silu(gate[n, f]) * up[n, f]   (silu(g) = g / (1 + exp(-g))). out may equal gate. */
void mot_cpu_swiglu(float *out, const float *gate, const float *up, int n, int f);

/* Causal grouped-query attention of n new queries at positions pos0..pos0+n-1 over a
 * KV cache already holding positions 0..pos0+n-1.
 *   q:   [n, n_heads, hd]          k, v: key j of kv head g at j * kv_stride + g * head_stride
 *   out: [n, n_heads, hd]          query head h reads kv head h / (n_heads / n_kv)
 * (the runtime's caches are head-major, [n_kv, ctx, hd]: kv_stride = hd, head_stride =
 * ctx * hd; rows of all heads, [ctx, n_kv * hd], are kv_stride = n_kv * hd, head_stride = hd)
 * Key j is visible to the query at p iff j <= p and (window == 0 or p - j < window).
 * scale multiplies q.k (1/sqrt(hd)). */
void mot_cpu_attention(float *out, const float *q, const float *k, const float *v, int64_t kv_stride,
                       int64_t head_stride, int n, int pos0, int n_heads, int n_kv, int hd, int window,
                       float scale);

/* One active expert's latent keys/values at one stack. */
typedef struct {
    const float *k;   /* [rows, d_s] */
    const float *v;   /* [rows, d_s] */
    int rows;         /* keys present now (prompt + decode steps fed, this one included) */
    int n_prompt;     /* N_m: its prompt length in its own tokens */
} mot_kv_segment;

/* out[n_q, d_s] = concat_h softmax(q_h k_h^T / sqrt(d_h) + mask) v_h over every segment's keys.
 * prefill: query i sees key j of segment m iff ceil((j+1) N_p / N_m) - 1 <= i, i.e. the first
 * floor((i+1) N_m / N_p) keys (N_p = n_q, the primary's prompt length). decode (prefill = 0):
 * every present key. */
void mot_cpu_cross_attention(float *out, const float *q, int n_q, int heads, int d_s,
                             const mot_kv_segment *seg, int n_seg, int prefill);

/* out[n, d] = (x - mean) / sqrt(var + eps) * w + b  (PyTorch LayerNorm, biased variance). */
void mot_cpu_layernorm(float *out, const float *x, const float *w, const float *b, int n, int d, float eps);

/* The first index of the largest of x[0..n) (NaNs never win; a NaN at x[0] gives 0): greedy
 * sampling. */
int mot_cpu_argmax(const float *x, int n);

/* Memory to read: a decode step's weights, or a probe buffer. */
typedef struct {
    const void *data;
    size_t bytes;
} mot_read_span;

/* Seconds for one plain read of every byte of the spans by a new parallel region: the
 * fastest way to read them, so bytes / seconds is the read bandwidth the decode GEMV can at
 * best reach on the same memory (kernels/cpu/bandwidth.c). sum (may be NULL): what the reads
 * added up, as 32-bit words (single bytes in the short tails), so a test can tell that every
 * byte was read once. */
double mot_cpu_read_pass(const mot_read_span *spans, int n_spans, uint32_t *sum);

/* Read bandwidth of main memory in GB/s (1e9 bytes/s): the mean of `passes` whole read
 * passes over a fresh buffer of `bytes` (use >> L3); 0 when it cannot be allocated. */
double mot_cpu_measure_read_bandwidth(size_t bytes, int passes);

#endif
