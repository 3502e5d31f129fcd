// Online-softmax attention of one query head over ranges of keys, shared by ATTENTION and
// CROSS_ATTENTION. A block of ATT_WARPS warps works on one (query row, head); each warp takes
// ATT_KB keys at a time (warps interleaved), so its loads of K and V rows are coalesced and
// independent. Lane c holds dims c, c + 32, ... (DPL of them) of q and of the running output.
// Each warp keeps its own running max m, sum l and output; the block merges them at the end,
// either into the final row (acc / l) or into a partial (m, l, acc) that a combine kernel
// merges across key splits (flash-decoding: a decode query has too few heads to fill the GPU).
#ifndef MOT_KERNELS_CUDA_ATTENTION_CORE_CUH
#define MOT_KERNELS_CUDA_ATTENTION_CORE_CUH

#include <math.h>

#include "kernels/cuda/op_common.cuh"

#define ATT_WARPS 4
#define ATT_THREADS (ATT_WARPS * 32)
#define ATT_KB 4          // keys per warp per step
#define ATT_MAX_HD 512    // dims per head: DPL <= 16
#define ATT_CHUNK 256     // keys per split block in split-key (decode) attention

// The DPL instantiation for a head dimension (hd <= ATT_MAX_HD): CALL(DPL), as
// BWD_ATT_DISPATCH for the backward kernels (backward_common.cuh).
#define ATT_DISPATCH(hd, CALL)                                                                 \
    do {                                                                                       \
        if ((hd) <= 32) {                                                                      \
            CALL(1);                                                                           \
        } else if ((hd) <= 64) {                                                               \
            CALL(2);                                                                           \
        } else if ((hd) <= 128) {                                                              \
            CALL(4);                                                                           \
        } else if ((hd) <= 256) {                                                              \
            CALL(8);                                                                           \
        } else {                                                                               \
            CALL(16);                                                                          \
        }                                                                                      \
    } while (0)

template <int DPL> struct att_state {
    float m, l, acc[DPL];
};

// max that keeps a NaN (fmaxf drops it): a NaN score makes the row NaN, as on the CPU and in
// the float64 reference, instead of being skipped.
__device__ __forceinline__ float att_nanmax(float a, float b) { return a != a || b != b ? NAN : fmaxf(a, b); }

template <int DPL> __device__ __forceinline__ void att_init(att_state<DPL> &st) {
    st.m = -INFINITY;
    st.l = 0.0f;
#pragma unroll
    for (int e = 0; e < DPL; e++) {
        st.acc[e] = 0.0f;
    }
}

// q row (hd floats) into registers: lane c holds q[c + 32 e].
template <int DPL> __device__ __forceinline__ void att_load_q(float (&q)[DPL], const float *row, int hd) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int e = 0; e < DPL; e++) {
        const int c = lane + 32 * e;
        q[e] = c < hd ? row[c] : 0.0f;
    }
}

// Keys j in [j_begin, j_end): k_j = k + j * stride (hd floats), likewise v_j. Score q.k_j * scale.
template <int DPL>
__device__ __forceinline__ void att_keys(att_state<DPL> &st, const float (&q)[DPL], const float *k, const float *v,
                                         long long stride, int hd, int j_begin, int j_end, float scale) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int j0 = j_begin + warp * ATT_KB; j0 < j_end; j0 += ATT_WARPS * ATT_KB) {
        float s[ATT_KB];
#pragma unroll
        for (int u = 0; u < ATT_KB; u++) {
            float dot = 0.0f;
            if (j0 + u < j_end) {
                const float *kj = k + (long long)(j0 + u) * stride;
#pragma unroll
                for (int e = 0; e < DPL; e++) {
                    const int c = lane + 32 * e;
                    if (c < hd) {
                        dot += q[e] * kj[c];
                    }
                }
            }
            s[u] = dot;
        }
        // Butterfly sums: every lane ends with the same (bitwise) total.
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
#pragma unroll
            for (int u = 0; u < ATT_KB; u++) {
                s[u] += __shfl_xor_sync(0xffffffffu, s[u], off);
            }
        }
        float mb = -INFINITY;
#pragma unroll
        for (int u = 0; u < ATT_KB; u++) {
            s[u] = j0 + u < j_end ? s[u] * scale : -INFINITY;
            mb = att_nanmax(mb, s[u]);
        }
        const float m_new = att_nanmax(st.m, mb);
        if (m_new == -INFINITY) {
            continue;  // only -inf scores so far: nothing to weigh yet
        }
        const float corr = st.m == -INFINITY ? 0.0f : expf(st.m - m_new);
        st.l *= corr;
#pragma unroll
        for (int e = 0; e < DPL; e++) {
            st.acc[e] *= corr;
        }
#pragma unroll
        for (int u = 0; u < ATT_KB; u++) {
            if (j0 + u < j_end) {
                const float p = expf(s[u] - m_new);
                const float *vj = v + (long long)(j0 + u) * stride;
                st.l += p;
#pragma unroll
                for (int e = 0; e < DPL; e++) {
                    const int c = lane + 32 * e;
                    if (c < hd) {
                        st.acc[e] += p * vj[c];
                    }
                }
            }
        }
        st.m = m_new;
    }
}

template <int DPL> struct att_shared {
    float m[ATT_WARPS], l[ATT_WARPS];
    float acc[ATT_WARPS][32 * DPL];
};

// Merges the warps' states. partial == 0: out[c] = acc / l (0 when no key was visible; NaN
// when a visible score was NaN).
// partial != 0: out = [m, l, acc[hd]] unnormalized, for attention_combine_kernel.
template <int DPL>
__device__ __forceinline__ void att_finish(const att_state<DPL> &st, int hd, float *out, int partial, att_shared<DPL> &sh) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        sh.m[warp] = st.m;
        sh.l[warp] = st.l;
    }
#pragma unroll
    for (int e = 0; e < DPL; e++) {
        const int c = lane + 32 * e;
        if (c < hd) {
            sh.acc[warp][c] = st.acc[e];
        }
    }
    __syncthreads();
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < ATT_WARPS; w++) {
        M = att_nanmax(M, sh.m[w]);
    }
    float f[ATT_WARPS], L = 0.0f;
#pragma unroll
    for (int w = 0; w < ATT_WARPS; w++) {
        f[w] = sh.m[w] == -INFINITY ? 0.0f : expf(sh.m[w] - M);
        L += sh.l[w] * f[w];
    }
    float *dst = partial ? out + 2 : out;
    for (int c = threadIdx.x; c < hd; c += blockDim.x) {
        float a = 0.0f;
#pragma unroll
        for (int w = 0; w < ATT_WARPS; w++) {
            a += sh.acc[w][c] * f[w];
        }
        dst[c] = partial ? a : (L != 0.0f ? a / L : 0.0f);
    }
    if (partial && threadIdx.x == 0) {
        out[0] = M;
        out[1] = L;
    }
    __syncthreads();  // sh is reused by the block's next row
}

// Merges one head's `splits` partials p [splits][m, l, acc[hd]] into out_h [hd], in split
// order (the same bits whichever block runs it). Loads bypass L1 (__ldcg): in the split
// kernel's last block the partials were written by other blocks of the same launch.
__device__ __forceinline__ void att_combine_head(float *out_h, const float *p, int splits, int hd) {
    float M = -INFINITY;
    for (int s = 0; s < splits; s++) {
        M = att_nanmax(M, __ldcg(p + (size_t)s * (hd + 2)));
    }
    // An empty split wrote only its m (-inf): its l and acc are stale and never read.
    float L = 0.0f;
    for (int s = 0; s < splits; s++) {
        const float m = __ldcg(p + (size_t)s * (hd + 2));
        if (m != -INFINITY) {
            L += __ldcg(p + (size_t)s * (hd + 2) + 1) * expf(m - M);
        }
    }
    for (int c = threadIdx.x; c < hd; c += blockDim.x) {
        float a = 0.0f;
        for (int s = 0; s < splits; s++) {
            const float m = __ldcg(p + (size_t)s * (hd + 2));
            if (m != -INFINITY) {
                a += __ldcg(p + (size_t)s * (hd + 2) + 2 + c) * expf(m - M);
            }
        }
        out_h[c] = L != 0.0f ? a / L : 0.0f;
    }
}

// Merges `splits` partials [m, l, acc[hd]] (stride hd + 2) of each head into out + h * hd.
// Launch: grid heads, block ATT_THREADS. n_new == 0 (a dead lane): nothing.
// The split-key decode's one-launch merge: once this block has written its partial of head
// h, it counts itself on ticket_h (0 at launch); the last of the head's n blocks merges their
// partials into out_h, as attention_combine_kernel would, and resets the counter for the next
// launch on the lane's stream. Every thread of the block calls it (barriers); last: a
// __shared__ int of the kernel.
__device__ __forceinline__ void att_ticket_combine(float *out_h, const float *partial_h, int n, int hd,
                                                   unsigned *ticket_h, int &last) {
    __threadfence(); // this block's partial is visible device-wide before it is counted
    __syncthreads();
    if (threadIdx.x == 0) {
        last = atomicAdd(ticket_h, 1u) == (unsigned)n - 1;
    }
    __syncthreads();
    if (last) {
        __threadfence(); // acquire: the counted blocks' partials before this block's loads of them
        att_combine_head(out_h, partial_h, n, hd);
        if (threadIdx.x == 0) {
            *ticket_h = 0;
        }
    }
}

static __global__ void attention_combine_kernel(float *out, const float *partial, int splits, int hd,
                                                const mot_step_state *step, int lane) {
    if (step->lane[lane].n_new <= 0) {
        return;
    }
    const int h = blockIdx.x;
    att_combine_head(out + (size_t)h * hd, partial + (size_t)h * splits * (hd + 2), splits, hd);
}

// Host side: how many split blocks of how many keys cover a cache of `cap` rows for `heads`
// heads, within the lane's partial scratch; 0 when split-key attention does not fit.
static inline int att_plan_splits(long long cap, int heads, int hd, int segs, size_t partial_floats, int *chunk) {
    if (cap <= 0 || heads <= 0 || segs <= 0) {
        return 0;
    }
    const long long per_split = (long long)heads * segs * (hd + 2);
    long long fit = (long long)(partial_floats / (size_t)per_split);
    long long want = (cap + ATT_CHUNK - 1) / ATT_CHUNK;
    long long s = want < fit ? want : fit;
    if (s > 65535 / segs) {
        s = 65535 / segs;
    }
    if (s < 1) {
        return 0;
    }
    *chunk = (int)((cap + s - 1) / s);
    return (int)s;
}

// One split of a split-key pass (decode): the unnormalized partial [m, l, acc[hd]] of query
// row q_row over keys [lo, hi) of k, v (row stride `stride` floats) into dst, or an empty
// partial (m = -inf, l = 0) when the split lies past the visible keys.
template <int DPL>
__device__ __forceinline__ void att_split_partial(float *dst, const float *q_row, const float *k, const float *v,
                                                  int stride, int hd, int lo, int hi, float scale, att_shared<DPL> &sh) {
    if (lo >= hi) {
        if (threadIdx.x == 0) {
            dst[0] = -INFINITY;
            dst[1] = 0.0f;
        }
        return;
    }
    float q[DPL];
    att_load_q<DPL>(q, q_row, hd);
    att_state<DPL> st;
    att_init<DPL>(st);
    att_keys<DPL>(st, q, k, v, stride, hd, lo, hi, scale);
    att_finish<DPL>(st, hd, dst, 1, sh);
}

#endif
