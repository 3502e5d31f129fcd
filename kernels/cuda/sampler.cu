// SAMPLE: one token from logits [vocab] for lane L, into step->lane[L].token (n_sampled += 1)
// and tokens[0]; a dead lane (n_new == 0) does nothing. One block of SAMPLE_THREADS.
//
// Same rules as kernels/cpu/sampler.c:
//   temperature <= 0: arg-max, ties to the lower id; NaN handling as mot_argmax (x[0] NaN: 0;
//                     otherwise NaNs never win).
//   otherwise: prob_i = expf((x_i - max) / T), NaN/inf -> 0; all 0 -> arg-max (no draw);
//              top-k (k > 0, k < vocab) keeps the k most probable (ties: lower id);
//              top-p (< 1) keeps the shortest prefix in descending order whose mass reaches
//              top_p * kept mass (at least one);
//              min-p (> 0) then keeps those whose prob is >= min_p (the arg-max's is 1);
//              draw u from the lane's xoshiro256** (as kernels/cpu/sampler.c), r = u * kept mass,
//              the first candidate in descending order (ties: lower id) whose running sum
//              exceeds r.
// Repetition penalties (pen_list, when given): first every thread copies the logits into pen
// and the listed tokens get the CPU's rule (x / r when x > 0, else x * r, minus c * frequency,
// minus presence; kernels/cpu/sampler.c), then all of the above reads pen.
// Differences from the CPU: without top-k and top-p the CPU walks its candidates for the draw
// in id order, this in descending probability order always, so sampled (non-greedy) streams
// may differ from the CPU's there; with top-k or top-p both walk (p desc, id asc); greedy
// ones are equal.
// Masses are summed as 42-bit fixed point integers (prob * 2^42, truncated): exact and
// order-independent, so the result is deterministic and the comparisons exact.
//
// No candidate list is stored (no scratch): every "which element reaches this running sum"
// question is answered by a radix search over the probabilities' f32 bit patterns (monotonic for
// p >= 0): 4 histogram passes of 8 bits, then one pass in id order among exactly equal
// probabilities. Probabilities are recomputed from the logits in every pass (same code, same
// result each time).
//
// Also here: STEP_ADVANCE, the pass's last op, which reads what SAMPLE wrote (its reference is
// beside the sampler's too, ops/ref_sample.c).
#include "common/rng.h"
#include <stdint.h>

#include "kernels/cuda/op_common.cuh"

#define SAMPLE_THREADS 1024
#define SAMPLE_FIX 4398046511104.0f  // 2^42: vocab * 2^42 < 2^64 for vocab < 2^22

typedef unsigned long long u64;

// A position in the order (prob desc, id asc): the elements up to and including it.
struct cut_t {
    unsigned key;  // f32 bits of its prob
    int id;
};

struct sample_smem {
    u64 hist[256];
    u64 red[32];
    float red_v[32];
    int red_i[32];
    int bucket, found_id;
    u64 above, found_cum, draw;
};

struct sample_args {
    const float *x;
    int vocab;
    float maxv, temp;
};

__device__ __forceinline__ float sample_prob(const sample_args &a, int i) {
    const float q = expf((a.x[i] - a.maxv) / a.temp);
    return q >= 0.0f && q <= 1.0f ? q : 0.0f;  // NaN and inf fail both tests
}

__device__ __forceinline__ u64 sample_fixed(float q) { return __float2ull_rz(q * SAMPLE_FIX); }

__device__ __forceinline__ bool in_cut(unsigned key, int i, cut_t c) { return key > c.key || (key == c.key && i <= c.id); }

__device__ u64 block_sum_u64(u64 v, sample_smem &sm) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = mot_warp_sum(v);
    if (lane == 0) {
        sm.red[warp] = v;
    }
    __syncthreads();
    if (warp == 0) {
        v = mot_warp_sum(lane < (int)(blockDim.x >> 5) ? sm.red[lane] : 0ull);
        if (lane == 0) {
            sm.red[0] = v;
        }
    }
    __syncthreads();
    v = sm.red[0];
    __syncthreads();
    return v;
}

// Inclusive prefix sum over the block in thread order; *total gets the block's sum.
__device__ u64 block_scan_u64(u64 v, u64 *total, sample_smem &sm) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    for (int off = 1; off < 32; off <<= 1) {
        const u64 o = __shfl_up_sync(0xffffffffu, v, off);
        v += lane >= off ? o : 0ull;
    }
    if (lane == 31) {
        sm.red[warp] = v;
    }
    __syncthreads();
    if (warp == 0) {
        u64 w = lane < n_warps ? sm.red[lane] : 0ull;
        for (int off = 1; off < 32; off <<= 1) {
            const u64 o = __shfl_up_sync(0xffffffffu, w, off);
            w += lane >= off ? o : 0ull;
        }
        sm.red[lane] = w;  // inclusive over warps
    }
    __syncthreads();
    const u64 res = v + (warp > 0 ? sm.red[warp - 1] : 0ull);
    *total = sm.red[n_warps - 1];
    __syncthreads();
    return res;
}

// mot_argmax: the lowest id of the largest non-NaN value, except 0 when x[0] is NaN.
__device__ int block_argmax(const float *x, int vocab, sample_smem &sm) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    float bv = 0.0f;
    int bi = -1;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        const float v = x[i];
        if (v == v && (bi < 0 || v > bv)) {
            bv = v;
            bi = i;
        }
    }
    // (value, id) pairs: none (id < 0) loses; larger value wins; equal values: lower id.
    for (int round = 0; round < 2; round++) {
        for (int off = 16; off > 0; off >>= 1) {
            const float ov = __shfl_xor_sync(0xffffffffu, bv, off);
            const int oi = __shfl_xor_sync(0xffffffffu, bi, off);
            if (oi >= 0 && (bi < 0 || ov > bv || (ov == bv && oi < bi))) {
                bv = ov;
                bi = oi;
            }
        }
        if (round == 0) {
            if (lane == 0) {
                sm.red_v[warp] = bv;
                sm.red_i[warp] = bi;
            }
            __syncthreads();
            bv = lane < (int)(blockDim.x >> 5) ? sm.red_v[lane] : 0.0f;
            bi = lane < (int)(blockDim.x >> 5) ? sm.red_i[lane] : -1;
        }
    }
    __syncthreads();  // red_* reusable
    return x[0] != x[0] || bi < 0 ? 0 : bi;
}

// Adds w to hist[bucket] for the lanes with pred, one shared atomic per distinct bucket in the
// warp (the top bits of probabilities are mostly equal: plain atomics would serialize).
__device__ __forceinline__ void hist_add(u64 *hist, bool pred, unsigned bucket, u64 w) {
    const int lane = threadIdx.x & 31;
    unsigned pending = __ballot_sync(0xffffffffu, pred);
    while (pending) {
        const int leader = __ffs(pending) - 1;
        const unsigned b = __shfl_sync(0xffffffffu, bucket, leader);
        const unsigned same = __ballot_sync(0xffffffffu, pred && bucket == b);
        const u64 sum = mot_warp_sum((same >> lane) & 1u ? w : 0ull);
        if (lane == leader) {
            atomicAdd(&hist[b], sum);
        }
        pending &= ~same;
    }
}

// Weight of element i in a search: 1 (count, top-k) or its fixed-point probability.
__device__ __forceinline__ u64 sample_weight(bool count, float q) { return count ? 1ull : sample_fixed(q); }

// Mass of the elements inside cut.
__device__ u64 cut_mass(const sample_args &a, cut_t c, sample_smem &sm) {
    u64 s = 0;
    for (int i = threadIdx.x; i < a.vocab; i += blockDim.x) {
        const float q = sample_prob(a, i);
        s += in_cut(__float_as_uint(q), i, c) ? sample_fixed(q) : 0ull;
    }
    return block_sum_u64(s, sm);
}

// Number of the elements inside cut whose prob is at least min_p.
__device__ u64 cut_count_at_least(const sample_args &a, cut_t c, float min_p, sample_smem &sm) {
    u64 s = 0;
    for (int i = threadIdx.x; i < a.vocab; i += blockDim.x) {
        const float q = sample_prob(a, i);
        s += in_cut(__float_as_uint(q), i, c) && q >= min_p ? 1ull : 0ull;
    }
    return block_sum_u64(s, sm);
}

// The first element, in the order (prob desc, id asc) among those inside `within`, at which the
// running weight reaches target (>= 1). Returns false when the total is below target.
__device__ bool select_first(const sample_args &a, bool count, cut_t within, u64 target, cut_t *res, u64 *cum,
                             sample_smem &sm) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    unsigned prefix = 0;
    u64 above = 0;  // weight of the elements with a larger key than any still in the search
    for (int shift = 24; shift >= 0; shift -= 8) {
        const unsigned hi_mask = shift == 24 ? 0u : 0xffffffffu << (shift + 8);
        for (int b = tid; b < 256; b += blockDim.x) {
            sm.hist[b] = 0;
        }
        __syncthreads();
        for (int base = 0; base < a.vocab; base += blockDim.x) {
            const int i = base + tid;
            bool pred = false;
            unsigned bucket = 0;
            u64 w = 0;
            if (i < a.vocab) {
                const float q = sample_prob(a, i);
                const unsigned key = __float_as_uint(q);
                if (in_cut(key, i, within) && (key & hi_mask) == prefix) {
                    pred = true;
                    bucket = (key >> shift) & 255u;
                    w = sample_weight(count, q);
                }
            }
            hist_add(sm.hist, pred, bucket, w);
        }
        __syncthreads();
        if (warp == 0) {
            // Lane l owns buckets 255 - 8l down to 248 - 8l (descending = in order).
            u64 part = 0;
            for (int e = 0; e < 8; e++) {
                part += sm.hist[255 - 8 * lane - e];
            }
            u64 incl = part;
            for (int off = 1; off < 32; off <<= 1) {
                const u64 o = __shfl_up_sync(0xffffffffu, incl, off);
                incl += lane >= off ? o : 0ull;
            }
            const u64 excl = incl - part;
            const bool cross = above + excl < target && above + incl >= target;
            const unsigned who = __ballot_sync(0xffffffffu, cross);
            if (who == 0 && lane == 0) {
                sm.bucket = -1;
            }
            if (cross && lane == __ffs(who) - 1) {
                u64 acc = above + excl;
                for (int e = 0; e < 8; e++) {
                    const int b = 255 - 8 * lane - e;
                    if (acc + sm.hist[b] >= target) {
                        sm.bucket = b;
                        sm.above = acc;
                        break;
                    }
                    acc += sm.hist[b];
                }
            }
        }
        __syncthreads();
        if (sm.bucket < 0) {
            __syncthreads();
            return false;
        }
        prefix |= (unsigned)sm.bucket << shift;
        above = sm.above;
        __syncthreads();  // sm.bucket/above are rewritten by the next pass
    }
    // Among the elements whose prob is exactly `prefix`, in id order.
    if (tid == 0) {
        sm.found_id = -1;
    }
    __syncthreads();
    u64 carry = above;
    for (int base = 0; base < a.vocab; base += blockDim.x) {
        const int i = base + tid;
        u64 w = 0;
        bool pred = false;
        if (i < a.vocab) {
            const float q = sample_prob(a, i);
            const unsigned key = __float_as_uint(q);
            pred = key == prefix && in_cut(key, i, within);
            w = pred ? sample_weight(count, q) : 0ull;
        }
        if (!__syncthreads_or(pred)) {
            continue;
        }
        u64 tile = 0;
        const u64 incl = block_scan_u64(w, &tile, sm);
        if (pred && carry + incl - w < target && carry + incl >= target) {
            sm.found_id = i;
            sm.found_cum = carry + incl;
        }
        __syncthreads();
        if (sm.found_id >= 0) {
            break;
        }
        carry += tile;
    }
    const bool found = sm.found_id >= 0;
    res->key = prefix;
    res->id = sm.found_id;
    *cum = sm.found_cum;
    __syncthreads();
    return found;
}

// Temperature > 0: the token, or -1 for "no sampleable mass: arg-max".
__device__ int sample_draw(const sample_args &a, int top_k, float top_p, float min_p, mot_lane_step *ls,
                           sample_smem &sm) {
    const cut_t all = {0u, a.vocab - 1};
    u64 mass = cut_mass(a, all, sm);
    if (mass == 0) {
        return -1;
    }
    cut_t kept = all, c;
    u64 cum = 0;
    if (top_k > 0 && top_k < a.vocab) {
        if (select_first(a, true, all, (u64)top_k, &c, &cum, sm)) {
            kept = c;
            mass = cut_mass(a, kept, sm);
        }
    }
    if (top_p < 1.0f) {
        // The shortest prefix with running mass >= top_p * mass (at least the first element).
        const double t = ceil((double)top_p * (double)mass);
        u64 target = t >= 1.0 ? (u64)t : 1ull;
        target = target < mass ? target : mass;
        if (select_first(a, false, kept, target, &c, &cum, sm)) {
            kept = c;
            mass = cum;
        }
    }
    if (min_p > 0.0f) {
        // The prefix whose probs are >= min_p: at least the arg-max's (prob 1).
        const u64 n = cut_count_at_least(a, kept, min_p, sm);
        if (select_first(a, true, kept, n > 0 ? n : 1ull, &c, &cum, sm)) {
            kept = c;
            mass = cut_mass(a, kept, sm);
        }
    }
    if (threadIdx.x == 0) {
        // r = floor(u * mass) with u = (next >> 11) 2^-53: the high word of (next with its low
        // 11 bits cleared) * mass. The winner is the first whose running mass exceeds r.
        sm.draw = __umul64hi(mot_rng_next(&ls->rng) & ~0x7ffull, mass);
    }
    __syncthreads();
    const u64 r = sm.draw;
    __syncthreads();
    return select_first(a, false, kept, r + 1, &c, &cum, sm) ? c.id : kept.id;
}

struct penalty_args {
    const int *list;  // n, then n (token, count) pairs; NULL: no penalties
    float *pen;       // [vocab]
    float repeat, presence, frequency;
};

// pen = x with the listed tokens penalized; returns pen (or x when there is no list).
__device__ const float *penalize(const float *x, int vocab, const penalty_args &p) {
    if (!p.list) {
        return x;
    }
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        p.pen[i] = x[i];
    }
    __syncthreads();
    const int n = p.list[0];
    for (int j = threadIdx.x; j < n; j += blockDim.x) {  // distinct tokens: no two threads share one
        const int t = p.list[1 + 2 * j], c = p.list[2 + 2 * j];
        if (t >= 0 && t < vocab) {
            float v = p.pen[t];
            v = v <= 0.0f ? v * p.repeat : v / p.repeat;
            p.pen[t] = v - (float)c * p.frequency - p.presence;
        }
    }
    __syncthreads();
    return p.pen;
}

__global__ void __launch_bounds__(SAMPLE_THREADS)
    sample_kernel(const float *x, int vocab, float temp, int top_k, float top_p, float min_p, penalty_args pen,
                  mot_step_state *step, int lane, int *tokens) {
    __shared__ sample_smem sm;
    mot_lane_step *ls = &step->lane[lane];
    if (ls->n_new <= 0) {
        return;
    }
    x = penalize(x, vocab, pen);
    const int best = block_argmax(x, vocab, sm);
    int tok = best;
    if (temp > 0.0f) {
        const sample_args a = {x, vocab, x[best], temp};
        const int drawn = sample_draw(a, top_k, top_p, min_p, ls, sm);
        tok = drawn >= 0 ? drawn : best;
    }
    if (threadIdx.x == 0) {
        ls->token = tok;
        ls->n_sampled += 1;
        if (tokens) {
            tokens[0] = tok;
        }
    }
}

extern "C" mot_status mot_cuda_op_sample(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    const mot_plan_op *op = l->op;
    const int vocab = l->vocab > 0 ? l->vocab : op->sample.vocab;
    const float *logits = op_buf<const float>(l, op->sample.logits);
    int *tokens = op_buf<int>(l, op->sample.tokens);
    MOT_OP_REQUIRE(logits && vocab > 0 && vocab < (1 << 22), "cuda sample: missing logits or vocabulary %d", vocab);
    const penalty_args pen = {l->pen_list, l->pen, l->repeat_penalty > 0.0f ? l->repeat_penalty : 1.0f,
                              l->presence_penalty, l->frequency_penalty};
    MOT_OP_REQUIRE(!pen.list || pen.pen, "cuda sample: penalties without their logits buffer");
    sample_kernel<<<1, SAMPLE_THREADS, 0, (cudaStream_t)stream>>>(logits, vocab, l->temperature, l->top_k, l->top_p,
                                                                  l->min_p, pen, l->step, op->lane, tokens);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// STEP_ADVANCE: the last op of a pass, after every lane has sampled. For each lane fed this pass
// (n_new > 0): pos += n_new, rows += n_new, and a non-primary that sampled one of its EOS ids
// dies (alive = 0, unless ignore_eos). Then every lane's next n_new = alive ? 1 : 0,
// prefill = 0, step += 1. The primary is never marked dead here (the host ends generation on
// its EOS). The EOS table is static per plan, so it travels by value as a kernel argument.
struct eos_table {
    int id[MOT_MAX_LANES][MOT_MAX_EOS];  // -1 padded
};

__global__ void step_advance_kernel(mot_step_state *step, eos_table eos, int ignore_eos) {
    if (threadIdx.x != 0 || blockIdx.x != 0) {
        return;
    }
    const int n_lanes = step->n_lanes < MOT_MAX_LANES ? step->n_lanes : MOT_MAX_LANES;
    for (int i = 0; i < n_lanes; i++) {
        mot_lane_step *ls = &step->lane[i];
        if (ls->n_new > 0) {
            ls->pos += ls->n_new;
            ls->rows += ls->n_new;
            if (i > 0 && !ignore_eos) {
                for (int e = 0; e < MOT_MAX_EOS; e++) {
                    if (eos.id[i][e] >= 0 && ls->token == eos.id[i][e]) {
                        ls->alive = 0;
                    }
                }
            }
        }
        ls->n_new = ls->alive ? 1 : 0;
    }
    step->prefill = 0;
    step->step += 1;
}

extern "C" mot_status mot_cuda_op_step_advance(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    eos_table eos;
    for (int i = 0; i < MOT_MAX_LANES; i++) {
        for (int e = 0; e < MOT_MAX_EOS; e++) {
            eos.id[i][e] = l->op->step_advance.eos[i][e];
        }
    }
    step_advance_kernel<<<1, 32, 0, (cudaStream_t)stream>>>(l->step, eos, l->op->step_advance.ignore_eos);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}
