/* Causal grouped-query attention with an optional sliding window, f32 throughout.
 * Each query row is independent. The query heads that share a kv head are done together,
 * key chunk by key chunk: scores, softmax with a running max (online softmax), then the
 * probability-weighted sum of V rows. Work items are handed out dynamically because
 * causal rows differ in length. Prompt passes whose head size fits go to
 * kernels/cpu/attention_blocked.c instead (the same steps over blocks of query vectors). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "kernels/cpu/attention_blocked.h"
#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/simd_math.h"
#include "kernels/cpu/team.h"
#include "kernels/cpu/thread_scratch.h"

/* KEY_CHUNK keys per softmax step (their K and V for one kv head fit L1); a work item
 * covers at most MAX_GROUP query heads; chunks are packed when hd <= PACK_MAX_HD. A decode
 * row over more than KEY_PART keys is split into parts of KEY_PART keys (see
 * mot_cpu_attention). */
enum { KEY_CHUNK = 32, MAX_GROUP = 64, PACK_MAX_HD = 256, KEY_PART = 256 };

/* q . k over hd elements */
static float dot(const float *q, const float *k, int hd) {
    __m256 a = _mm256_setzero_ps(), b = a;
    int i = 0;
    for (; i + 16 <= hd; i += 16) {
        a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), a);
        b = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(k + i + 8), b);
    }
    if (i + 8 <= hd) {
        a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), a);
        i += 8;
    }
    float s = mot_hsum8(_mm256_add_ps(a, b));
    for (; i < hd; i++) {
        s += q[i] * k[i];
    }
    return s;
}

/* p[j] = scale * (q . k_j) for j < len, k_j = k + j * stride; returns max(floor, p[j]).
 * Keys go 8 at a time, each with its own accumulator, and the 8 sums are reduced together
 * by a horizontal-add tree (7 adds for 8 keys instead of a full reduction per key). */
static float scores(float *p, const float *q, const float *k, int64_t stride, int len, int hd,
                    float scale, float floor_max) {
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 vmax = _mm256_set1_ps(floor_max);
    int j = 0;
    if (hd % 8 == 0) {
        for (; j + 8 <= len; j += 8) {
            const float *kj = k + j * stride;
            __m256 a[8];
            for (int u = 0; u < 8; u++) {
                a[u] = _mm256_setzero_ps();
            }
            for (int i = 0; i < hd; i += 8) {
                __m256 qv = _mm256_loadu_ps(q + i);
                for (int u = 0; u < 8; u++) {
                    a[u] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kj + u * stride + i), a[u]);
                }
            }
            __m256 s01 = _mm256_hadd_ps(a[0], a[1]), s23 = _mm256_hadd_ps(a[2], a[3]);
            __m256 s45 = _mm256_hadd_ps(a[4], a[5]), s67 = _mm256_hadd_ps(a[6], a[7]);
            __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67);
            /* lanes 0-3 hold halves of keys 0-3 (low and high 128 bits), 4-7 likewise */
            __m256 sum = _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20),
                                       _mm256_permute2f128_ps(s0123, s4567, 0x31));
            sum = _mm256_mul_ps(sum, vs);
            _mm256_storeu_ps(p + j, sum);
            vmax = _mm256_max_ps(vmax, sum);
        }
    }
    float buf[8], mx = floor_max;
    _mm256_storeu_ps(buf, vmax);
    for (int u = 0; u < 8; u++) {
        mx = buf[u] > mx ? buf[u] : mx;
    }
    for (; j < len; j++) {
        p[j] = dot(q, k + j * stride, hd) * scale;
        mx = p[j] > mx ? p[j] : mx;
    }
    return mx;
}

/* o[hd] = keep * o + sum_j p[j] v[j * stride + :], j in [0, len); v already offset to the
 * kv head. Chunks of 64 output lanes stay in 8 registers across all j: 8 independent FMA
 * chains, so the 4-cycle FMA latency does not set the pace (4 chains did: 2x slower). */
static void weighted_sum(float *o, float keep, const float *p, const float *v, int64_t stride,
                         int len, int hd) {
    const __m256 vk = _mm256_set1_ps(keep);
    int i0 = 0;
    for (; i0 + 64 <= hd; i0 += 64) {
        __m256 a[8];
        for (int u = 0; u < 8; u++) {
            a[u] = _mm256_mul_ps(vk, _mm256_loadu_ps(o + i0 + 8 * u));
        }
        for (int j = 0; j < len; j++) {
            const float *vj = v + j * stride + i0;
            __m256 pj = _mm256_broadcast_ss(p + j);
            for (int u = 0; u < 8; u++) {
                a[u] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8 * u), a[u]);
            }
        }
        for (int u = 0; u < 8; u++) {
            _mm256_storeu_ps(o + i0 + 8 * u, a[u]);
        }
    }
    for (; i0 + 8 <= hd; i0 += 8) {
        __m256 a0 = _mm256_mul_ps(vk, _mm256_loadu_ps(o + i0));
        for (int j = 0; j < len; j++) {
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), _mm256_loadu_ps(v + j * stride + i0),
                                 a0);
        }
        _mm256_storeu_ps(o + i0, a0);
    }
    for (; i0 < hd; i0++) {
        float a = keep * o[i0];
        for (int j = 0; j < len; j++) {
            a += p[j] * v[j * stride + i0];
        }
        o[i0] = a;
    }
}

/* Query heads [h0, h1) of one query row, all reading the same kv head, over keys
 * [first, last], unnormalised: o[h] = sum_j exp(s_j - m[h]) v_j with m[h] the largest
 * score and sum[h] = sum_j exp(s_j - m[h]). q and o point at the row's head h0
 * ([h1 - h0, hd]); k, v are already offset to the kv head. Keys go in chunks of KEY_CHUNK
 * with the online-softmax rescaling, so no buffer grows with the context (with one chunk
 * this is the two-pass softmax), and each chunk of K and V rows (2 x 128 x hd floats, in
 * L1/L2) serves every head of the group before the next is read: heads one at a time
 * re-read the whole cache from L3 once per query head, which made decode at 2k context
 * L3-bound (1.6 ms per call, 1 thread). */
static void attend_part(float *o, float *m, float *sum, const float *q, const float *k, const float *v,
                        int64_t stride, int first, int last, int h0, int h1, int hd, float scale) {
    float p[KEY_CHUNK];
    const int heads = h1 - h0;
    for (int h = 0; h < heads; h++) {
        m[h] = -INFINITY, sum[h] = 0.0f;
        for (int i = 0; i < hd; i++) {
            o[h * hd + i] = 0.0f;
        }
    }
    /* Keys that are not contiguous (rows that interleave the kv heads: stride 1 KiB for
     * 4 x 64) map a chunk of one head's K and V onto a quarter of the L1 sets; packed
     * contiguously they stay in L1 while every head of the slice reads them (decode at 2k
     * keys, 32 heads, 4 kv heads, one thread: 0.65 -> 0.45-0.6 ms). The runtime's
     * head-major caches need no packing. */
    float kbuf[KEY_CHUNK * PACK_MAX_HD], vbuf[KEY_CHUNK * PACK_MAX_HD];
    const int pack = heads > 1 && hd <= PACK_MAX_HD && stride != hd;
    for (int j0 = first; j0 <= last; j0 += KEY_CHUNK) {
        int len = last - j0 + 1 < KEY_CHUNK ? last - j0 + 1 : KEY_CHUNK;
        const float *kc = k + (int64_t)j0 * stride, *vc = v + (int64_t)j0 * stride;
        int64_t cs = stride;
        if (pack) {
            for (int j = 0; j < len; j++) {
                memcpy(kbuf + j * hd, kc + j * stride, sizeof(float) * hd);
                memcpy(vbuf + j * hd, vc + j * stride, sizeof(float) * hd);
            }
            kc = kbuf, vc = vbuf, cs = hd;
        }
        for (int h = 0; h < heads; h++) {
            const float *qh = q + h * hd;
            float mc = scores(p, qh, kc, cs, len, hd, scale, m[h]);
            float keep = expf(m[h] - mc); /* 0 on the first chunk (m = -inf) */
            sum[h] = sum[h] * keep + mot_attn_exp_minus_max(p, len, mc);
            weighted_sum(o + h * hd, keep, p, vc, cs, len, hd);
            m[h] = mc;
        }
    }
}

/* attend_part, normalised: o = softmax(q k^T) v for heads [h0, h1). */
static void attend_group(float *o, const float *q, const float *k, const float *v, int64_t stride,
                         int first, int last, int h0, int h1, int hd, float scale) {
    float m[MAX_GROUP], sum[MAX_GROUP];
    attend_part(o, m, sum, q, k, v, stride, first, last, h0, h1, hd, scale);
    for (int h = 0; h < h1 - h0; h++) {
        float inv = 1.0f / sum[h];
        for (int i = 0; i < hd; i++) {
            o[h * hd + i] *= inv;
        }
    }
}

/* q, out are [n, n_heads, hd]; key j of kv head g at k + j * kv_stride + g * head_stride.
 * Work items are (query row, kv head, slice of that kv head's query heads). Slices are
 * whole groups unless that leaves too few items for the threads (decode: n = 1 with few kv
 * heads), and never wider than MAX_GROUP heads. */
static void attention_items(float *out, const float *q, const float *k, const float *v, int64_t kv_stride,
                            int64_t head_stride, int n, int pos0, int n_heads, int n_kv, int hd, int window,
                            float scale, int slices, int64_t items) {
    const int group = n_heads / n_kv;
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; item++) {
        int t = (int)(item / ((int64_t)n_kv * slices));
        int g = (int)(item / slices % n_kv), s = (int)(item % slices);
        int h0 = g * group + group * s / slices, h1 = g * group + group * (s + 1) / slices;
        int pos = pos0 + t;
        int first = mot_attn_first_key(pos, window);
        int64_t row = (int64_t)t * n_heads;
        attend_group(out + (row + h0) * hd, q + (row + h0) * hd, k + g * head_stride, v + g * head_stride,
                     kv_stride, first, pos, h0, h1, hd, scale);
    }
}

/* One query row (decode) at pos over keys [first, pos], more than KEY_PART of them. Items
 * are (kv head, part of KEY_PART keys) instead of kv heads, so the threads share the cache
 * evenly: with whole kv heads as items, SmolLM-135M's 3 kv heads went 2 : 1 over 2 threads
 * and the busier thread read 2/3 of the cache alone. Each part leaves its unnormalised o,
 * its max and its sum in parts (shared by the team; per item [group][hd] o, then [group]
 * max, then [group] sum); after the loop's barrier each query head merges its parts in
 * order. The parts depend on the keys only, never on the team, so the bits do not change
 * with the thread count. Measured (2 threads, 9 query / 3 kv heads of 64): attention alone
 * over 30 layers' caches at 2048 keys 196 us against 283 us a call; SmolLM-135M bf16 decode
 * after 1984 tokens, steps alternating the two in one process, 1.006-1.05x. Prefetching the
 * next key chunk in software did not help (0.97-1.02x, noise). */
static void attention_decode_parts(float *out, const float *q, const float *k, const float *v, int64_t kv_stride,
                                   int64_t head_stride, int pos, int first, int n_heads, int n_kv, int hd,
                                   float scale, int n_parts, float *parts) {
    const int group = n_heads / n_kv;
    const int64_t item_floats = (int64_t)group * (hd + 2);
#pragma omp for schedule(dynamic, 1)
    for (int item = 0; item < n_kv * n_parts; item++) {
        const int g = item / n_parts, j0 = first + item % n_parts * KEY_PART;
        const int j1 = j0 + KEY_PART - 1 < pos ? j0 + KEY_PART - 1 : pos;
        float *o = parts + item * item_floats, *m = o + (int64_t)group * hd, *sum = m + group;
        attend_part(o, m, sum, q + (int64_t)g * group * hd, k + g * head_stride, v + g * head_stride, kv_stride, j0,
                    j1, g * group, (g + 1) * group, hd, scale);
    }
#pragma omp for schedule(static)
    for (int h = 0; h < n_heads; h++) {
        const int g = h / group, hl = h % group;
        const float *first_item = parts + (int64_t)g * n_parts * item_floats;
        float mx = -INFINITY;
        for (int p = 0; p < n_parts; p++) {
            const float mp = first_item[p * item_floats + (int64_t)group * hd + hl];
            mx = mp > mx ? mp : mx;
        }
        float *o = out + (int64_t)h * hd, total = 0.0f;
        for (int i = 0; i < hd; i++) {
            o[i] = 0.0f;
        }
        for (int p = 0; p < n_parts; p++) {
            const float *rec = first_item + p * item_floats;
            const float w = expf(rec[(int64_t)group * hd + hl] - mx);
            total += rec[(int64_t)group * hd + group + hl] * w;
            for (int i = 0; i < hd; i++) {
                o[i] += w * rec[(int64_t)hl * hd + i];
            }
        }
        const float inv = 1.0f / total;
        for (int i = 0; i < hd; i++) {
            o[i] *= inv;
        }
    }
}

/* The parts' records, per thread; the team uses its single thread's (copyprivate). */
static mot_thread_scratch parts_scratch;

static void attention_decode_team(float *out, const float *q, const float *k, const float *v, int64_t kv_stride,
                                  int64_t head_stride, int pos, int first, int n_heads, int n_kv, int hd,
                                  int window, float scale, int n_parts) {
    float *parts;
#pragma omp single copyprivate(parts)
    parts = mot_thread_scratch_get(&parts_scratch, (size_t)n_heads * (size_t)(hd + 2) * (size_t)n_parts);
    if (!parts) { /* out of memory: whole kv heads as items, no scratch */
        attention_items(out, q, k, v, kv_stride, head_stride, 1, pos, n_heads, n_kv, hd, window, scale, 1, n_kv);
        return;
    }
    attention_decode_parts(out, q, k, v, kv_stride, head_stride, pos, first, n_heads, n_kv, hd, scale, n_parts,
                           parts);
}

void mot_cpu_attention(float *out, const float *q, const float *k, const float *v, int64_t kv_stride,
                       int64_t head_stride, int n, int pos0, int n_heads, int n_kv, int hd, int window,
                       float scale) {
    const int group = n_heads / n_kv;
    if (n == 1) {
        const int first = mot_attn_first_key(pos0, window);
        const int n_parts = (pos0 - first) / KEY_PART + 1;
        if (n_parts > 1) {
            MOT_TEAM_RUN(1, attention_decode_team(out, q, k, v, kv_stride, head_stride, pos0, first, n_heads, n_kv,
                                                  hd, window, scale, n_parts));
            return;
        }
    }
    if (mot_cpu_attention_blocked_fits(n, hd)) { /* a prompt pass: blocks of query vectors */
        MOT_TEAM_RUN(1, mot_cpu_attention_blocked(out, q, k, v, kv_stride, head_stride, n, pos0, n_heads, n_kv, hd,
                                                  window, scale));
        return;
    }
    const int64_t rows_x_kv = (int64_t)n * n_kv;
    /* at least one item per thread, not two: each slice reads its kv head's keys again.
     * SmolLM-135M bf16 decode (3 kv heads, 2 threads: 3 items instead of 6), head-major
     * caches, steps alternating the two in one process: 1.007-1.09x (7 runs); attention
     * alone with the caches in L3: 64 keys 5.9-7.3 us against 7.3-12.1, 512 keys 44-68
     * against 59-86, 2048 keys 225-263 against 254-282. */
    const int64_t want = (int64_t)mot_team_size();
    int slices = rows_x_kv >= want ? 1 : (int)((want + rows_x_kv - 1) / rows_x_kv);
    slices = slices > group ? group : slices;
    if ((group + slices - 1) / slices > MAX_GROUP) {
        slices = (group + MAX_GROUP - 1) / MAX_GROUP;
    }
    const int64_t items = rows_x_kv * slices;
    MOT_TEAM_RUN(items > 1, attention_items(out, q, k, v, kv_stride, head_stride, n, pos0, n_heads, n_kv, hd,
                                             window, scale, slices, items));
}
