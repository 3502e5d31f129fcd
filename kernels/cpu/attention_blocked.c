/* Prefill attention a block of query vectors at a time (kernels/cpu/attention.c sends prompt
 * passes here). A work item is one kv head, a few consecutive query rows and the query heads
 * of that kv head (at most BV vectors in all); key chunk by key chunk, as attend_part, it
 *   - transposes the chunk's K rows ([BK keys][hd] -> [hd][BK]), so that scores are plain
 *     FMAs with keys in the lanes: S[vector][key] = q . k, 6 vectors x 16 keys a tile, each
 *     K load serving 6 vectors and each q element broadcast once for 16 keys;
 *   - masks what a row may not see (past its position; before its window), then the online
 *     softmax per vector (running max m, sum, O rescaled when m grows);
 *   - adds P V into O, 6 vectors x 16 dimensions a tile, V read where the cache holds it.
 * One query row at a time (attend_part) every K and V element loaded meets one vector, and the
 * score of 8 keys needs a horizontal-add tree (a load an FMA); here 8 loads serve 12 FMAs.
 * A 2048-token prompt, one thread (Zen 3): 32 / 4 heads 26-31 -> 39-50 GFLOP/s, 9 / 3 heads
 * 23-29 -> 37-52; SmolLM2 pp4096 229 -> 328 t/s (docs/benchmarks.md).
 * Each vector's arithmetic is its own (which block or tile it shares, which thread runs it,
 * never changes its bits), so the result does not depend on the team size. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/attention_blocked.h"
#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/simd_math.h"

/* keys a chunk; query vectors an item (a multiple of the 6-vector tile: rows x heads of 1, 2,
 * 3, 4, 6, 8 or 12 heads fill it) */
enum { TV = 6, BK = 32, BV = 24 };

/* C[r][0..15] (+)= sum_x A[r][x] B[x][0..15] for the 6 rows r of a tile, x < kdim: a GEMM
 * micro-kernel, 12 accumulators, each step 2 loads of B and 6 broadcasts of A for 12 FMAs.
 * Scores: A = Q (vectors x hd), B = K transposed (hd x keys); values: A = P (vectors x keys),
 * B = V (keys x hd), accumulating into O. The empty asm keeps B's two vectors in registers
 * (gcc folded each load into every FMA that used it: 4 loads where 1 would do, and the
 * value tile load-bound). */
static inline void tile6x16(float *c, int64_t ldc, const float *a, int64_t lda, const float *b, int64_t ldb,
                            int kdim, int accumulate) {
    __m256 acc[6][2];
    for (int r = 0; r < 6; r++) {
        acc[r][0] = accumulate ? _mm256_loadu_ps(c + r * ldc) : _mm256_setzero_ps();
        acc[r][1] = accumulate ? _mm256_loadu_ps(c + r * ldc + 8) : _mm256_setzero_ps();
    }
    for (int x = 0; x < kdim; x++) {
        __m256 b0 = _mm256_loadu_ps(b + x * ldb), b1 = _mm256_loadu_ps(b + x * ldb + 8);
        __asm__("" : "+x"(b0), "+x"(b1));
        for (int r = 0; r < 6; r++) {
            const __m256 av = _mm256_broadcast_ss(a + r * lda + x);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < 6; r++) {
        _mm256_storeu_ps(c + r * ldc, acc[r][0]);
        _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
    }
}

/* kt[d][c] = k[c][d] for c < len (rows stride apart), zero for len <= c < BK */
static void transpose_chunk(float *kt, const float *k, int64_t stride, int len, int hd) {
    int c = 0;
    for (; c + 8 <= len; c += 8) {
        for (int d = 0; d < hd; d += 8) { /* an 8 x 8 block: rows c.., columns d.. */
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                r[i] = _mm256_loadu_ps(k + (c + i) * stride + d);
            }
            const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
            const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
            const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
            const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
            const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
            const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            float *o = kt + d * BK + c;
            _mm256_storeu_ps(o + 0 * BK, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(o + 1 * BK, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(o + 2 * BK, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(o + 3 * BK, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(o + 4 * BK, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(o + 5 * BK, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(o + 6 * BK, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(o + 7 * BK, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
    }
    for (; c < len; c++) {
        for (int d = 0; d < hd; d++) {
            kt[d * BK + c] = k[c * stride + d];
        }
    }
    for (; c < BK; c++) {
        for (int d = 0; d < hd; d++) {
            kt[d * BK + c] = 0.0f;
        }
    }
}

/* One item: query rows [t0, t0 + rows) x query heads [h0, h0 + hs) of kv head g (rows * hs <=
 * BV); k, v already offset to the kv head. */
static void attend_block(float *out, const float *q, const float *k, const float *v, int64_t kv_stride, int t0,
                         int rows, int h0, int hs, int n_heads, int pos0, int hd, int window, float scale) {
    float qb[BV * MOT_ATTN_BLOCKED_MAX_HD], ob[BV * MOT_ATTN_BLOCKED_MAX_HD], kt[MOT_ATTN_BLOCKED_MAX_HD * BK];
    float s[BV * BK], m[BV], sum[BV];
    int lo[BV], hi[BV];
    const int nv = rows * hs, nvp = (nv + TV - 1) / TV * TV; /* vectors, padded to whole tiles */
    for (int i = 0; i < nvp; i++) {
        float *qi = qb + i * hd;
        if (i < nv) { /* vector i = row t0 + i / hs, head h0 + i % hs */
            const int t = t0 + i / hs;
            memcpy(qi, q + ((int64_t)t * n_heads + h0 + i % hs) * hd, sizeof(float) * (size_t)hd);
            hi[i] = pos0 + t, lo[i] = mot_attn_first_key(hi[i], window);
        } else { /* padding: sees nothing */
            memset(qi, 0, sizeof(float) * (size_t)hd);
            lo[i] = 1, hi[i] = 0;
        }
        memset(ob + i * hd, 0, sizeof(float) * (size_t)hd);
        m[i] = -INFINITY, sum[i] = 0.0f;
    }
    const int jlo = mot_attn_first_key(pos0 + t0, window), jhi = pos0 + t0 + rows - 1; /* what the rows see */
    for (int j0 = jlo; j0 <= jhi; j0 += BK) {
        const int len = jhi - j0 + 1 < BK ? jhi - j0 + 1 : BK;
        transpose_chunk(kt, k + (int64_t)j0 * kv_stride, kv_stride, len, hd);
        for (int i = 0; i < nvp; i += TV) {
            tile6x16(s + i * BK, BK, qb + i * hd, hd, kt, BK, hd, 0);
            if (len > 16) {
                tile6x16(s + i * BK + 16, BK, qb + i * hd, hd, kt + 16, BK, hd, 0);
            }
        }
        /* mask, online softmax: s becomes P */
        for (int i = 0; i < nvp; i++) {
            float *si = s + i * BK;
            const int c0 = lo[i] - j0 > 0 ? lo[i] - j0 : 0, c1 = hi[i] - j0 + 1 < len ? hi[i] - j0 + 1 : len;
            if (c0 >= c1) { /* nothing of this chunk is visible to vector i */
                memset(si, 0, sizeof(float) * BK);
                continue;
            }
            float mc = m[i];
            if (c0 == 0 && c1 == BK) { /* the whole chunk visible (most of them): 8 lanes at once */
                __m256 vmx = _mm256_set1_ps(mc);
                for (int c = 0; c < BK; c += 8) {
                    const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(si + c), _mm256_set1_ps(scale));
                    _mm256_storeu_ps(si + c, x);
                    vmx = _mm256_max_ps(x, vmx); /* a NaN score is passed over, as below */
                }
                float lanes[8];
                _mm256_storeu_ps(lanes, vmx);
                for (int l = 0; l < 8; l++) {
                    mc = lanes[l] > mc ? lanes[l] : mc;
                }
            } else {
                for (int c = c0; c < c1; c++) {
                    si[c] *= scale;
                    mc = si[c] > mc ? si[c] : mc;
                }
            }
            /* 0 on the first visible chunk (m = -inf); 1 while the max holds (most chunks once
             * the running max has settled: no expf, no rescale of O) */
            const float keep = mc > m[i] ? expf(m[i] - mc) : 1.0f;
            memset(si, 0, sizeof(float) * (size_t)c0);
            const float ps = mot_attn_exp_minus_max(si + c0, c1 - c0, mc);
            memset(si + c1, 0, sizeof(float) * (size_t)(BK - c1));
            sum[i] = sum[i] * keep + ps;
            m[i] = mc;
            if (keep != 1.0f) {
                float *oi = ob + i * hd;
                const __m256 vk = _mm256_set1_ps(keep);
                for (int d = 0; d < hd; d += 8) {
                    _mm256_storeu_ps(oi + d, _mm256_mul_ps(vk, _mm256_loadu_ps(oi + d)));
                }
            }
        }
        const float *vc = v + (int64_t)j0 * kv_stride;
        for (int i = 0; i < nvp; i += TV) {
            for (int d = 0; d < hd; d += 16) {
                tile6x16(ob + i * hd + d, hd, s + i * BK, BK, vc + d, kv_stride, len, 1);
            }
        }
    }
    for (int i = 0; i < nv; i++) {
        const int t = t0 + i / hs;
        float *o = out + ((int64_t)t * n_heads + h0 + i % hs) * hd;
        const float inv = 1.0f / sum[i];
        for (int d = 0; d < hd; d++) {
            o[d] = ob[i * hd + d] * inv;
        }
    }
}

/* From 32 rows: below, a pass's attention is a few microseconds either way (9 / 3 heads, 2
 * threads: 8 rows 9.5 GFLOP/s one row at a time against 7.7 blocked, 16 rows 11.7 against
 * 16.7, 64 rows 27.5 against 59.9), and short passes keep the one-row kernel's bits: the
 * training gradient test's examples are such passes, and its deep pool's router gradients,
 * which sit at 5e-5..1.7e-4 of their 1e-4 bound whichever way the scores round (even exact
 * scores gave 1.0e-4), crossed it in the sanitizer build with these rows blocked. */
int mot_cpu_attention_blocked_fits(int n, int hd) {
    return n >= 32 && hd % 16 == 0 && hd <= MOT_ATTN_BLOCKED_MAX_HD;
}

void mot_cpu_attention_blocked(float *out, const float *q, const float *k, const float *v, int64_t kv_stride,
                               int64_t head_stride, int n, int pos0, int n_heads, int n_kv, int hd, int window,
                               float scale) {
    const int group = n_heads / n_kv;
    const int hs = group < BV ? group : BV;            /* heads an item */
    const int slices = (group + hs - 1) / hs;          /* items across one kv head's heads */
    const int rows = BV / hs;                          /* query rows an item */
    const int blocks = (n + rows - 1) / rows;
    const int64_t items = (int64_t)n_kv * slices * blocks;
    /* the last rows see the most keys: hand them out first */
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        const int b = blocks - 1 - (int)(it / ((int64_t)n_kv * slices));
        const int g = (int)(it / slices % n_kv), sl = (int)(it % slices);
        const int h0 = g * group + sl * hs, h1 = h0 + hs < (g + 1) * group ? h0 + hs : (g + 1) * group;
        const int t0 = b * rows, nr = n - t0 < rows ? n - t0 : rows;
        attend_block(out, q, k + g * head_stride, v + g * head_stride, kv_stride, t0, nr, h0, h1 - h0, n_heads, pos0,
                     hd, window, scale);
    }
}
