// ATTENTION: causal grouped-query attention of the lane's n_new queries over its KV cache.
//   q, out: [n, n_heads, hd]     k, v cache: key j of kv head g at j * kv_stride + g * head_stride
// Query t sits at position p = pos + t and sees key j iff j <= p and (window == 0 or
// p - j < window); query head h reads kv head h / (n_heads / n_kv).
// Prefill (host rows > 1): one block per (head, row) over all its keys.
// Decode (host rows == 1): split-key ("flash-decoding"): blocks (head, split) each cover a fixed
// slice of the cache's capacity and write a partial; a combine kernel merges the splits. The
// split count depends only on the cache capacity, so the graph is the same at every step;
// splits past the current length only write an empty partial's m = -inf.
#include "kernels/cuda/attention_core.cuh"

struct att_args {
    float *out;
    const float *q, *k, *v;
    int kv_stride, n_heads, group, hd, window;
    long long head_stride;
    float scale;
    const mot_step_state *step;
    int lane;
};

__device__ __forceinline__ int att_first_key(int p, int window) {
    return window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
}

template <int DPL> __global__ void __launch_bounds__(ATT_THREADS) attention_kernel(att_args a) {
    __shared__ att_shared<DPL> sh;
    const int n = a.step->lane[a.lane].n_new, pos = a.step->lane[a.lane].pos;
    const int h = blockIdx.x;
    const size_t g_off = (size_t)(h / a.group) * (size_t)a.head_stride;
    for (int t = blockIdx.y; t < n; t += gridDim.y) {
        const int p = pos + t;
        float q[DPL];
        att_load_q<DPL>(q, a.q + ((size_t)t * a.n_heads + h) * a.hd, a.hd);
        att_state<DPL> st;
        att_init<DPL>(st);
        att_keys<DPL>(st, q, a.k + g_off, a.v + g_off, a.kv_stride, a.hd, att_first_key(p, a.window), p + 1,
                      a.scale);
        att_finish<DPL>(st, a.hd, a.out + ((size_t)t * a.n_heads + h) * a.hd, 0, sh);
    }
}

// Decode: query row 0 only. partial: [n_heads, splits, hd + 2]. With ticket (one counter a
// head, 0 at launch) the last of a head's split blocks to finish merges the head's partials
// into out, so decode attention is one launch: every block fences its partial before it
// counts itself, and the last one resets the counter for the next launch on the lane's
// stream. Without ticket attention_combine_kernel merges them.
template <int DPL>
__global__ void __launch_bounds__(ATT_THREADS)
    attention_split_kernel(att_args a, float *partial, int chunk, unsigned *ticket) {
    __shared__ att_shared<DPL> sh;
    __shared__ int last;
    if (a.step->lane[a.lane].n_new <= 0) { // uniform over the grid: no block counts, out untouched
        return;
    }
    const int p = a.step->lane[a.lane].pos;
    const int h = blockIdx.x, s = blockIdx.y;
    const size_t g_off = (size_t)(h / a.group) * (size_t)a.head_stride;
    const long long lo_ll = (long long)s * chunk, hi_ll = lo_ll + chunk;
    const int first = att_first_key(p, a.window);
    const int lo = lo_ll > first ? (int)lo_ll : first;
    const int hi = hi_ll < (long long)p + 1 ? (int)hi_ll : p + 1;
    float *dst = partial + ((size_t)h * gridDim.y + s) * (a.hd + 2);
    // splits past the current length (most of them early on) write an empty partial
    att_split_partial<DPL>(dst, a.q + (size_t)h * a.hd, a.k + g_off, a.v + g_off, a.kv_stride, a.hd, lo, hi, a.scale,
                           sh);
    if (ticket) {
        att_ticket_combine(a.out + (size_t)h * a.hd, partial + (size_t)h * gridDim.y * (a.hd + 2), gridDim.y, a.hd,
                           ticket + h, last);
    }
}

// Positions the layer's cache holds: the last kv head's last key must fit in k_cache.
static long long att_cache_positions(const mot_op_kv *kv) {
    const long long floats = (long long)(kv->k_cache.bytes / sizeof(float));
    const long long last_head = (long long)(kv->n_kv - 1) * kv->kv_head_stride;
    return floats < last_head + kv->hd ? 0 : (floats - last_head - kv->hd) / kv->kv_stride + 1;
}

template <int DPL>
static mot_status launch_attention(const att_args &a, const mot_gpu_launch *l, mot_cuda_lane *lane, cudaStream_t s) {
    const mot_op_kv *op = &l->op->attention.kv;
    int chunk = 0, splits = 0;
    if (l->rows == 1 && lane && lane->partial) {
        const long long cap = att_cache_positions(op);
        splits = att_plan_splits(cap, op->n_heads, op->hd, 1, lane->partial_floats, &chunk);
    }
    if (splits > 0 && lane->ticket && op->n_heads <= MOT_CUDA_TICKETS) { // one launch: the last block combines
        attention_split_kernel<DPL><<<dim3(op->n_heads, splits), ATT_THREADS, 0, s>>>(a, lane->partial, chunk,
                                                                                     lane->ticket);
    } else if (splits > 0) {
        attention_split_kernel<DPL><<<dim3(op->n_heads, splits), ATT_THREADS, 0, s>>>(a, lane->partial, chunk, nullptr);
        MOT_CUDA_LAUNCHED();
        attention_combine_kernel<<<op->n_heads, ATT_THREADS, 0, s>>>(a.out, lane->partial, splits, op->hd, a.step,
                                                                     a.lane);
    } else {
        attention_kernel<DPL><<<dim3(op->n_heads, op_row_grid(l)), ATT_THREADS, 0, s>>>(a);
    }
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

extern "C" mot_status mot_cuda_op_attention(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    const mot_op_attention *at = &l->op->attention;
    const mot_op_kv *op = &at->kv;
    att_args a;
    a.out = op_buf<float>(l, at->out);
    a.q = op_buf<const float>(l, at->q);
    a.k = op_buf<const float>(l, op->k_cache);
    a.v = op_buf<const float>(l, op->v_cache);
    MOT_OP_REQUIRE(a.out && a.q && a.k && a.v, "cuda attention: missing buffer");
    MOT_OP_REQUIRE(op->hd > 0 && op->hd <= ATT_MAX_HD && op->n_kv > 0 && op->n_heads % op->n_kv == 0 &&
                       op->kv_stride >= op->hd && op->kv_head_stride >= op->hd && op->n_heads <= 65535,
                   "cuda attention: unsupported dims (heads %d, kv %d, hd %d (at most %d), kv_stride %d, kv_head_stride %lld)",
                   op->n_heads, op->n_kv, op->hd, ATT_MAX_HD, op->kv_stride, (long long)op->kv_head_stride);
    a.kv_stride = op->kv_stride;
    a.head_stride = (long long)op->kv_head_stride;
    a.n_heads = op->n_heads;
    a.group = op->n_heads / op->n_kv;
    a.hd = op->hd;
    a.window = at->window;
    a.scale = at->scale;
    a.step = l->step;
    a.lane = l->op->lane;
    cudaStream_t s = (cudaStream_t)stream;
#define LAUNCH(DPL) return launch_attention<DPL>(a, l, lane, s)
    ATT_DISPATCH(op->hd, LAUNCH);
#undef LAUNCH
}
