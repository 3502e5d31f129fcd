/* Prefill attention over blocks of query vectors (kernels/cpu/attention_blocked.c), the path
 * mot_cpu_attention takes for prompt passes whose head size it fits. */
#ifndef MOT_KERNELS_CPU_ATTENTION_BLOCKED_H
#define MOT_KERNELS_CPU_ATTENTION_BLOCKED_H

#include <stdint.h>

/* the widest head it takes (its per-item buffers are sized by it) */
#define MOT_ATTN_BLOCKED_MAX_HD 128

/* Whether n query rows of head size hd take the blocked path: a prompt pass of n >= 32 rows,
 * hd a multiple of 16 up to MOT_ATTN_BLOCKED_MAX_HD. */
int mot_cpu_attention_blocked_fits(int n, int hd);

/* mot_cpu_attention's contract (kernels.h), as a team body: orphaned `omp for`, so every
 * thread of the team calls it with the same arguments. */
void mot_cpu_attention_blocked(float *out, const float *q, const float *k, const float *v, int64_t kv_stride,
                               int64_t head_stride, int n, int pos0, int n_heads, int n_kv, int hd, int window,
                               float scale);

#endif
