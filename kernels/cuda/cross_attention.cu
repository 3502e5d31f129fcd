// CROSS_ATTENTION (SPEC 1.3, 1.4): the query lane's (P = the op's lane: the primary, 0, or the
// lane at the attention's query rank, docs/pipeline.md) n_q = lane[P].n_new queries q [n_q, d_s], heads
// of dh = d_s / heads, over the speaking lanes' latent keys/values seg_k[m], seg_v[m] [ctx, d_s]
// (segment m is lane L = seg_lane[m]; a listening lane has no segment); one softmax over the
// visible keys of all segments together; out [n_q, d_s].
// Segment m holds P_m = lane[L].rows + lane[L].n_new keys (this pass's rows already appended).
// Prefill: query i sees the first min(floor((i + 1) N_m / N_p), P_m) keys of segment m
// (N_m = lane[L].n_prompt, N_p = lane[P].n_prompt); decode: all P_m. No visible key (or no
// segment at all): row 0.
// Prefill (host rows > 1): one block per (head, query row). Decode: split-key blocks
// (head, segment x split) write partials that the last block of a head merges (one launch),
// or attention_combine_kernel (MOT_CUDA_ATTENTION_COMBINE=kernel), as ATTENTION.
// LATENT_APPEND, which writes those keys/values, is at the end.
#include "kernels/cuda/attention_core.cuh"

struct xatt_args {
    float *out;
    const float *q;
    const float *k[MOT_MAX_LANES], *v[MOT_MAX_LANES];
    int lane[MOT_MAX_LANES]; // segment m's lane
    int n_seg, d_s, dh;
    int qlane; // the lane whose queries attend (the op's lane)
    float scale;
    const mot_step_state *step;
};

// Keys of segment m visible to query i (see the file comment); 64-bit product.
__device__ __forceinline__ int xatt_visible(const xatt_args &a, int m, int i) {
    const mot_step_state *st = a.step;
    const int L = a.lane[m];
    const int present = st->lane[L].rows + st->lane[L].n_new;
    const int n_p = st->lane[a.qlane].n_prompt;
    if (!st->prefill || n_p <= 0) {
        return present;
    }
    const long long v = (long long)(i + 1) * st->lane[L].n_prompt / n_p;
    return v < present ? (int)v : present;
}

template <int DPL> __global__ void __launch_bounds__(ATT_THREADS) cross_attention_kernel(xatt_args a) {
    __shared__ att_shared<DPL> sh;
    const int n_q = a.step->lane[a.qlane].n_new;
    const int h = blockIdx.x;
    for (int i = blockIdx.y; i < n_q; i += gridDim.y) {
        float q[DPL];
        att_load_q<DPL>(q, a.q + (size_t)i * a.d_s + (size_t)h * a.dh, a.dh);
        att_state<DPL> st;
        att_init<DPL>(st);
        for (int m = 0; m < a.n_seg; m++) {
            att_keys<DPL>(st, q, a.k[m] + (size_t)h * a.dh, a.v[m] + (size_t)h * a.dh, a.d_s, a.dh, 0,
                          xatt_visible(a, m, i), a.scale);
        }
        att_finish<DPL>(st, a.dh, a.out + (size_t)i * a.d_s + (size_t)h * a.dh, 0, sh);
    }
}

// Query row 0 only; block y = segment * splits_per_seg + split. partial: [heads, gridDim.y, dh + 2].
// With ticket the last block of a head merges the head's partials (att_ticket_combine: one
// launch, as the decode ATTENTION); without, attention_combine_kernel does.
template <int DPL>
__global__ void __launch_bounds__(ATT_THREADS) cross_attention_split_kernel(xatt_args a, float *partial,
                                                                            int splits_per_seg, int chunk,
                                                                            unsigned *ticket) {
    __shared__ att_shared<DPL> sh;
    __shared__ int last;
    if (a.step->lane[a.qlane].n_new <= 0) { // uniform over the grid: no block counts, out untouched
        return;
    }
    const int h = blockIdx.x, m = blockIdx.y / splits_per_seg, s = blockIdx.y % splits_per_seg;
    const long long lo_ll = (long long)s * chunk;
    const int vis = xatt_visible(a, m, 0);
    const int hi = lo_ll + chunk < (long long)vis ? (int)(lo_ll + chunk) : vis;
    float *dst = partial + ((size_t)h * gridDim.y + blockIdx.y) * (a.dh + 2);
    // splits past the segment's visible keys write an empty partial
    const int lo = lo_ll < hi ? (int)lo_ll : hi;
    att_split_partial<DPL>(dst, a.q + (size_t)h * a.dh, a.k[m] + (size_t)h * a.dh, a.v[m] + (size_t)h * a.dh, a.d_s,
                           a.dh, lo, hi, a.scale, sh);
    if (ticket) {
        att_ticket_combine(a.out + (size_t)h * a.dh, partial + (size_t)h * gridDim.y * (a.dh + 2), gridDim.y, a.dh,
                           ticket + h, last);
    }
}

template <int DPL>
static mot_status launch_cross(const xatt_args &a, const mot_gpu_launch *l, mot_cuda_lane *lane, cudaStream_t s) {
    const mot_op_cross_attention *op = &l->op->cross_attention;
    const int heads = op->heads;
    int chunk = 0, splits = 0;
    if (l->rows == 1 && lane && lane->partial && a.n_seg > 0) {
        long long cap = 0;
        for (int m = 0; m < a.n_seg; m++) {
            const long long c = (long long)(op->seg_k[m].bytes / ((size_t)a.d_s * sizeof(float)));
            cap = c > cap ? c : cap;
        }
        splits = att_plan_splits(cap, heads, a.dh, a.n_seg, lane->partial_floats, &chunk);
    }
    if (splits > 0 && lane->ticket && heads <= MOT_CUDA_TICKETS) { // one launch: the last block combines
        cross_attention_split_kernel<DPL>
            <<<dim3(heads, a.n_seg * splits), ATT_THREADS, 0, s>>>(a, lane->partial, splits, chunk, lane->ticket);
    } else if (splits > 0) {
        cross_attention_split_kernel<DPL>
            <<<dim3(heads, a.n_seg * splits), ATT_THREADS, 0, s>>>(a, lane->partial, splits, chunk, nullptr);
        MOT_CUDA_LAUNCHED();
        attention_combine_kernel<<<heads, ATT_THREADS, 0, s>>>(a.out, lane->partial, a.n_seg * splits, a.dh, a.step,
                                                               a.qlane);
    } else {
        cross_attention_kernel<DPL><<<dim3(heads, op_row_grid(l)), ATT_THREADS, 0, s>>>(a);
    }
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

extern "C" mot_status mot_cuda_op_cross_attention(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                  mot_cuda_stream stream) {
    const mot_op_cross_attention *op = &l->op->cross_attention;
    xatt_args a;
    a.out = op_buf<float>(l, op->out);
    a.q = op_buf<const float>(l, op->q);
    a.n_seg = op->n_seg;
    a.d_s = op->d;
    MOT_OP_REQUIRE(a.out && a.q && op->heads > 0 && a.d_s % op->heads == 0 && a.n_seg >= 0 &&
                       a.n_seg <= MOT_MAX_LANES && op->heads <= 65535,
                   "cuda cross_attention: bad op (heads %d, d_s %d, segments %d)", op->heads, a.d_s, a.n_seg);
    a.dh = a.d_s / op->heads;
    MOT_OP_REQUIRE(a.dh <= ATT_MAX_HD, "cuda cross_attention: head dim %d > %d", a.dh, ATT_MAX_HD);
    for (int m = 0; m < MOT_MAX_LANES; m++) {
        a.k[m] = m < a.n_seg ? op_buf<const float>(l, op->seg_k[m]) : NULL;
        a.v[m] = m < a.n_seg ? op_buf<const float>(l, op->seg_v[m]) : NULL;
        a.lane[m] = m < a.n_seg ? op->seg_lane[m] : 0;
        MOT_OP_REQUIRE(m >= a.n_seg || (a.k[m] && a.v[m]), "cuda cross_attention: segment %d has no keys/values", m);
        MOT_OP_REQUIRE(a.lane[m] >= 0 && a.lane[m] < MOT_MAX_LANES, "cuda cross_attention: segment %d: lane %d", m,
                       a.lane[m]);
    }
    a.scale = op->scale;
    a.step = l->step;
    a.qlane = l->op->lane;
    MOT_OP_REQUIRE(a.qlane >= 0 && a.qlane < MOT_MAX_LANES, "cuda cross_attention: query lane %d", a.qlane);
    cudaStream_t s = (cudaStream_t)stream;
#define LAUNCH(DPL) return launch_cross<DPL>(a, l, lane, s)
    ATT_DISPATCH(a.dh, LAUNCH);
#undef LAUNCH
}

// LATENT_APPEND: the n_new new rows of the interaction keys and values (in, in2: [n, d_s]) stored
// into this stack's latent caches (kv[0], kv[1]: [ctx, d_s]) at rows rows + t. A dead lane
// (n_new = 0) stores nothing.
__global__ void latent_append_kernel(float *k_cache, float *v_cache, const float *k, const float *v, int d,
                                     const mot_step_state *step, int lane) {
    const int n = step->lane[lane].n_new;
    const size_t base = (size_t)step->lane[lane].rows * d, count = (size_t)n * d;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
        k_cache[base + i] = k[i];
        v_cache[base + i] = v[i];
    }
}

extern "C" mot_status mot_cuda_op_latent_append(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    const mot_op_latent_append *op = &l->op->latent_append;
    const float *k = op_buf<const float>(l, op->k), *v = op_buf<const float>(l, op->v);
    float *kc = op_buf<float>(l, op->k_cache), *vc = op_buf<float>(l, op->v_cache);
    MOT_OP_REQUIRE(k && v && kc && vc && op->d > 0, "cuda latent_append: missing buffer");
    latent_append_kernel<<<op_elem_grid(l, op->d, 256), 256, 0, (cudaStream_t)stream>>>(kc, vc, k, v, op->d, l->step,
                                                                                        l->op->lane);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}
