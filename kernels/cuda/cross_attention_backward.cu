// The backward of the primary's cross-attention in prefill mode on the device
// (kernels/cuda/cuda_backward.h; the CPU's is kernels/cpu/cross_attention_backward.c), in the
// two passes of attention_backward.cu:
//   A, one block per (query i, head h): one softmax over the visible keys of all segments
//      together: lse, D = sum_j P_j dP_j and dq, (lse, D) kept per (query, head) in
//      stream-ordered scratch; a query that sees no key has output 0 (the forward's choice),
//      so dq = 0 and no gradient reaches any key from it;
//   B, one block per (key row j of segment m, head h): P and dP again for every query that
//      sees the key, then dv_j = sum P dout_{i,h}, dk_j = scale sum P (dP - D) q_{i,h}.
// The mask (SPEC 1.4): query i sees the first min(floor((i+1) N_m / n_q), rows_m) keys of
// segment m (N_m = seg[m].n_prompt), as mot_cpu_cross_attention. Scale 1/sqrt(d_s / heads).
// Every output row of a head has one owner (a block) whose warps take the keys (A) or the
// queries (B) round robin and merge in warp order: the same bits every run.
#include <cstring>

#include "kernels/cuda/backward_common.cuh"

struct xattn_bwd_args {
    float *dq;
    double2 *stats; // [n_q, heads]: (lse, D)
    const float *dout, *q;
    const float *k[MOT_MAX_LANES], *v[MOT_MAX_LANES];
    float *dk[MOT_MAX_LANES], *dv[MOT_MAX_LANES];
    int rows[MOT_MAX_LANES], n_prompt[MOT_MAX_LANES], row0[MOT_MAX_LANES]; // row0: the first global key row
    int n_seg, n_q, heads, d_s, dh;
    float scale;
};

// Keys of segment m visible to query i (64-bit product).
__device__ __forceinline__ int xattn_bwd_visible(const xattn_bwd_args &a, int m, int i) {
    const long long v = (long long)(i + 1) * a.n_prompt[m] / a.n_q;
    return v < a.rows[m] ? (int)v : a.rows[m];
}

template <int DPL>
__global__ void __launch_bounds__(BWD_ATT_THREADS) cross_attention_backward_query_kernel(xattn_bwd_args a) {
    __shared__ float sh_acc[BWD_ATT_WARPS][BWD_ATT_MAX_HD];
    __shared__ float sh_m[BWD_ATT_WARPS];
    __shared__ double sh_d[BWD_ATT_WARPS];
    const int warp = threadIdx.x >> 5;
    const int i = blockIdx.x / a.heads, h = blockIdx.x % a.heads;
    const size_t off = (size_t)i * a.d_s + (size_t)h * a.dh;
    float q[DPL], o[DPL];
    bwd_load_row<DPL>(q, a.q + off, a.dh);
    bwd_load_row<DPL>(o, a.dout + off, a.dh);
    bwd_softmax st = {-INFINITY, 0.0};
    int keys = 0; // visible keys of all segments (not lse == -inf: NaN scores leave the max at -inf too)
    for (int m = 0; m < a.n_seg; m++) {
        const int vis = xattn_bwd_visible(a, m, i);
        const float *km = a.k[m] + (size_t)h * a.dh;
        keys += vis;
        for (int j = warp; j < vis; j += BWD_ATT_WARPS) {
            bwd_softmax_add(st, a.scale * bwd_reg_dot<DPL>(q, km + (size_t)j * a.d_s, a.dh));
        }
    }
    const double lse = bwd_softmax_lse(st, sh_m, sh_d); // the same for every thread
    if (keys == 0) {                                      // no key: dq = 0, stats never read
        for (int c = threadIdx.x; c < a.dh; c += blockDim.x) {
            a.dq[off + c] = 0.0f;
        }
        if (threadIdx.x == 0) {
            a.stats[blockIdx.x] = make_double2(INFINITY, 0.0);
        }
        return;
    }
    double d = 0.0;
    for (int m = 0; m < a.n_seg; m++) {
        const int vis = xattn_bwd_visible(a, m, i);
        const float *km = a.k[m] + (size_t)h * a.dh, *vm = a.v[m] + (size_t)h * a.dh;
        for (int j = warp; j < vis; j += BWD_ATT_WARPS) {
            const float s = a.scale * bwd_reg_dot<DPL>(q, km + (size_t)j * a.d_s, a.dh);
            const float p = expf((float)(s - lse));
            d += (double)p * bwd_reg_dot<DPL>(o, vm + (size_t)j * a.d_s, a.dh);
        }
    }
    d = bwd_warps_sum(d, sh_d);
    float acc[DPL];
#pragma unroll
    for (int e = 0; e < DPL; e++) {
        acc[e] = 0.0f;
    }
    for (int m = 0; m < a.n_seg; m++) {
        const int vis = xattn_bwd_visible(a, m, i);
        const float *km = a.k[m] + (size_t)h * a.dh, *vm = a.v[m] + (size_t)h * a.dh;
        for (int j = warp; j < vis; j += BWD_ATT_WARPS) {
            const float s = a.scale * bwd_reg_dot<DPL>(q, km + (size_t)j * a.d_s, a.dh);
            const float p = expf((float)(s - lse));
            const float dp = bwd_reg_dot<DPL>(o, vm + (size_t)j * a.d_s, a.dh);
            bwd_reg_axpy<DPL>(acc, a.scale * p * (float)(dp - d), km + (size_t)j * a.d_s, a.dh);
        }
    }
    bwd_merge_store<DPL>(acc, a.dq + off, a.dh, sh_acc);
    if (threadIdx.x == 0) {
        a.stats[blockIdx.x] = make_double2(lse, d);
    }
}

template <int DPL>
__global__ void __launch_bounds__(BWD_ATT_THREADS) cross_attention_backward_key_kernel(xattn_bwd_args a) {
    __shared__ float sh_acc[BWD_ATT_WARPS][BWD_ATT_MAX_HD];
    const int warp = threadIdx.x >> 5;
    const int r = blockIdx.x / a.heads, h = blockIdx.x % a.heads;
    int m = 0;
    while (m + 1 < a.n_seg && r >= a.row0[m + 1]) {
        m++;
    }
    const int j = r - a.row0[m];
    const size_t koff = (size_t)j * a.d_s + (size_t)h * a.dh;
    float kj[DPL], vj[DPL], dk[DPL], dv[DPL];
    bwd_load_row<DPL>(kj, a.k[m] + koff, a.dh);
    bwd_load_row<DPL>(vj, a.v[m] + koff, a.dh);
#pragma unroll
    for (int e = 0; e < DPL; e++) {
        dk[e] = dv[e] = 0.0f;
    }
    for (int i = warp; i < a.n_q; i += BWD_ATT_WARPS) {
        if (xattn_bwd_visible(a, m, i) <= j) {
            continue;
        }
        const size_t off = (size_t)i * a.d_s + (size_t)h * a.dh;
        const float *qh = a.q + off, *oh = a.dout + off;
        const double2 st = a.stats[(size_t)i * a.heads + h];
        const float s = a.scale * bwd_reg_dot<DPL>(kj, qh, a.dh);
        const float p = expf((float)(s - st.x));
        const float dp = bwd_reg_dot<DPL>(vj, oh, a.dh);
        bwd_reg_axpy<DPL>(dv, p, oh, a.dh);
        bwd_reg_axpy<DPL>(dk, a.scale * p * (float)(dp - st.y), qh, a.dh);
    }
    bwd_merge_store<DPL>(dk, a.dk[m] + koff, a.dh, sh_acc);
    bwd_merge_store<DPL>(dv, a.dv[m] + koff, a.dh, sh_acc);
}

extern "C" mot_status mot_cuda_cross_attention_backward(float *dq, const mot_kv_segment_grad *dseg, const float *dout,
                                                        const float *q, int n_q, int heads, int d_s,
                                                        const mot_kv_segment *seg, int n_seg, mot_cuda_stream stream) {
    if (heads <= 0 || d_s <= 0 || d_s % heads || d_s / heads > BWD_ATT_MAX_HD || n_seg < 0 || n_seg > MOT_MAX_LANES ||
        (n_seg > 0 && (!seg || !dseg)) || n_q < 0) {
        return mot_fail(MOT_ERR_ARG, "cuda cross_attention_backward: unsupported dims (n_q %d, heads %d, d_s %d, "
                                     "head dim <= %d, segments %d <= %d)",
                        n_q, heads, d_s, BWD_ATT_MAX_HD, n_seg, MOT_MAX_LANES);
    }
    xattn_bwd_args a;
    memset(&a, 0, sizeof a);
    a.dq = dq, a.dout = dout, a.q = q;
    a.n_seg = n_seg, a.n_q = n_q, a.heads = heads, a.d_s = d_s, a.dh = d_s / heads;
    a.scale = 1.0f / sqrtf((float)a.dh);
    long long total = 0;
    for (int m = 0; m < n_seg; m++) {
        if (seg[m].rows < 0 || seg[m].n_prompt < 0 || (seg[m].rows > 0 && (!seg[m].k || !seg[m].v || !dseg[m].dk ||
                                                                           !dseg[m].dv))) {
            return mot_fail(MOT_ERR_ARG, "cuda cross_attention_backward: segment %d (%d rows, prompt %d) lacks keys, "
                                         "values or their gradients",
                            m, seg[m].rows, seg[m].n_prompt);
        }
        a.k[m] = seg[m].k, a.v[m] = seg[m].v, a.dk[m] = dseg[m].dk, a.dv[m] = dseg[m].dv;
        a.rows[m] = seg[m].rows, a.n_prompt[m] = seg[m].n_prompt, a.row0[m] = (int)total;
        total += seg[m].rows;
    }
    if ((long long)n_q * heads > INT32_MAX || total * heads > INT32_MAX) {
        return mot_fail(MOT_ERR_ARG, "cuda cross_attention_backward: %d queries, %lld keys, %d heads: too many blocks",
                        n_q, total, heads);
    }
    cudaStream_t s = (cudaStream_t)stream;
    void *stats;
    MOT_TRY(bwd_scratch(&stats, sizeof(double2) * (size_t)n_q * heads, s, "cross_attention_backward"));
    a.stats = (double2 *)stats;
#define LAUNCH(DPL)                                                                                                \
    do {                                                                                                           \
        if (n_q > 0) {                                                                                             \
            cross_attention_backward_query_kernel<DPL><<<(unsigned)(n_q * heads), BWD_ATT_THREADS, 0, s>>>(a);    \
        }                                                                                                          \
        if (total > 0) {                                                                                           \
            cross_attention_backward_key_kernel<DPL><<<(unsigned)(total * heads), BWD_ATT_THREADS, 0, s>>>(a);    \
        }                                                                                                          \
    } while (0)
    BWD_ATT_DISPATCH(a.dh, LAUNCH);
#undef LAUNCH
    const cudaError_t e = cudaGetLastError();
    const mot_status st =
        e == cudaSuccess ? MOT_OK
                         : mot_fail(MOT_ERR_INTERNAL, "cuda cross_attention_backward: launch: %s", cudaGetErrorString(e));
    return bwd_scratch_free(stats, s, st);
}

// ---- the plan op (ops/op_table.h): static shapes from the op, device buffers from the arena ----

extern "C" mot_status mot_cuda_op_cross_attention_backward(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                           mot_cuda_stream stream) {
    const mot_op_cross_attention_backward *op = &l->op->cross_attention_backward;
    MOT_OP_REQUIRE(op->n_seg >= 0 && op->n_seg <= MOT_MAX_LANES, "cuda cross_attention_backward: %d segments",
                   op->n_seg);
    mot_kv_segment seg[MOT_MAX_LANES];
    mot_kv_segment_grad dseg[MOT_MAX_LANES];
    for (int m = 0; m < op->n_seg; m++) {
        seg[m] = {op_buf<const float>(l, op->seg_k[m]), op_buf<const float>(l, op->seg_v[m]), op->seg_rows[m],
                  op->seg_prompt[m]};
        dseg[m] = {op_buf<float>(l, op->seg_dk[m]), op_buf<float>(l, op->seg_dv[m])};
        MOT_OP_REQUIRE(seg[m].k && seg[m].v && dseg[m].dk && dseg[m].dv,
                       "cuda cross_attention_backward: segment %d has a missing buffer", m);
    }
    float *dq = op_buf<float>(l, op->dq);
    const float *dout = op_buf<const float>(l, op->dout), *q = op_buf<const float>(l, op->q);
    MOT_OP_REQUIRE(dq && dout && q, "cuda cross_attention_backward: missing buffer");
    return mot_cuda_cross_attention_backward(dq, dseg, dout, q, op->n_q, op->heads, op->d, seg, op->n_seg, stream);
}
