// Causal GQA self-attention's backward on the device (kernels/cuda/cuda_backward.h; the CPU's is
// kernels/cpu/attention_backward.c), the same two passes that recompute the probabilities:
//   A, one block per (query row t, query head h): scores s_j = scale q.k_j over the keys the
//      query sees, lse = log sum_j e^{s_j} (max f32, sum double), P_j = e^{s_j - lse},
//      dP_j = dout.v_j, D = sum_j P_j dP_j (double), dq = scale sum_j P_j (dP_j - D) k_j;
//      (lse, D) kept per (row, head) in stream-ordered scratch. Three sweeps over the keys
//      (statistics, D, dq), each recomputing the dot products it needs (no [n] scratch per row);
//   B, one block per (key row j, kv head g): for every query t that sees key j and every query
//      head h of the group, P and dP again from (lse, D), then
//      dv_j = sum P dout_{t,h},  dk_j = scale sum P (dP - D) q_{t,h}.
// Mask as mot_cpu_attention: key j is visible to the query at t iff j <= t and
// (window == 0 or t - j < window). Every output row has one owner (a block), whose warps take
// the keys (A) or the (query, head) pairs (B) round robin and merge in warp order: the same
// bits every run, no atomics.
#include "kernels/cuda/backward_common.cuh"

struct attn_bwd_args {
    float *dq, *dk, *dv;
    double2 *stats; // [n, n_heads]: (lse, D)
    const float *dout, *q, *k, *v;
    int n, n_heads, n_kv, hd, window;
    float scale;
};

__device__ __forceinline__ int attn_bwd_first_key(int t, int window) {
    return window > 0 && t - window + 1 > 0 ? t - window + 1 : 0;
}

template <int DPL> __global__ void __launch_bounds__(BWD_ATT_THREADS) attention_backward_query_kernel(attn_bwd_args a) {
    __shared__ float sh_acc[BWD_ATT_WARPS][BWD_ATT_MAX_HD];
    __shared__ float sh_m[BWD_ATT_WARPS];
    __shared__ double sh_d[BWD_ATT_WARPS];
    const int warp = threadIdx.x >> 5;
    const int t = blockIdx.x / a.n_heads, h = blockIdx.x % a.n_heads;
    const int g = h / (a.n_heads / a.n_kv), first = attn_bwd_first_key(t, a.window);
    const size_t qs = (size_t)a.n_heads * a.hd, ks = (size_t)a.n_kv * a.hd;
    const size_t off = t * qs + (size_t)h * a.hd;
    const float *kg = a.k + (size_t)g * a.hd, *vg = a.v + (size_t)g * a.hd;
    float q[DPL], o[DPL];
    bwd_load_row<DPL>(q, a.q + off, a.hd);
    bwd_load_row<DPL>(o, a.dout + off, a.hd);
    // sweep 1: the log-sum-exp
    bwd_softmax st = {-INFINITY, 0.0};
    for (int j = first + warp; j <= t; j += BWD_ATT_WARPS) {
        bwd_softmax_add(st, a.scale * bwd_reg_dot<DPL>(q, kg + j * ks, a.hd));
    }
    const double lse = bwd_softmax_lse(st, sh_m, sh_d);
    // sweep 2: D = sum P dP
    double d = 0.0;
    for (int j = first + warp; j <= t; j += BWD_ATT_WARPS) {
        const float s = a.scale * bwd_reg_dot<DPL>(q, kg + j * ks, a.hd);
        const float p = expf((float)(s - lse));
        d += (double)p * bwd_reg_dot<DPL>(o, vg + j * ks, a.hd);
    }
    d = bwd_warps_sum(d, sh_d);
    // sweep 3: dq
    float acc[DPL];
#pragma unroll
    for (int e = 0; e < DPL; e++) {
        acc[e] = 0.0f;
    }
    for (int j = first + warp; j <= t; j += BWD_ATT_WARPS) {
        const float s = a.scale * bwd_reg_dot<DPL>(q, kg + j * ks, a.hd);
        const float p = expf((float)(s - lse));
        const float dp = bwd_reg_dot<DPL>(o, vg + j * ks, a.hd);
        bwd_reg_axpy<DPL>(acc, a.scale * p * (float)(dp - d), kg + j * ks, a.hd);
    }
    bwd_merge_store<DPL>(acc, a.dq + off, a.hd, sh_acc);
    if (threadIdx.x == 0) {
        a.stats[blockIdx.x] = make_double2(lse, d);
    }
}

template <int DPL> __global__ void __launch_bounds__(BWD_ATT_THREADS) attention_backward_key_kernel(attn_bwd_args a) {
    __shared__ float sh_acc[BWD_ATT_WARPS][BWD_ATT_MAX_HD];
    const int warp = threadIdx.x >> 5;
    const int j = blockIdx.x / a.n_kv, g = blockIdx.x % a.n_kv, group = a.n_heads / a.n_kv;
    const size_t qs = (size_t)a.n_heads * a.hd, ks = (size_t)a.n_kv * a.hd;
    const size_t koff = j * ks + (size_t)g * a.hd;
    float kj[DPL], vj[DPL], dk[DPL], dv[DPL];
    bwd_load_row<DPL>(kj, a.k + koff, a.hd);
    bwd_load_row<DPL>(vj, a.v + koff, a.hd);
#pragma unroll
    for (int e = 0; e < DPL; e++) {
        dk[e] = dv[e] = 0.0f;
    }
    const int last = a.window > 0 && j + a.window - 1 < a.n - 1 ? j + a.window - 1 : a.n - 1;
    const int pairs = (last - j + 1) * group; // (query t >= j, head of the group), t outer
    for (int idx = warp; idx < pairs; idx += BWD_ATT_WARPS) {
        const int t = j + idx / group, h = g * group + idx % group;
        const size_t off = t * qs + (size_t)h * a.hd;
        const float *qh = a.q + off, *oh = a.dout + off;
        const double2 st = a.stats[(size_t)t * a.n_heads + h];
        const float s = a.scale * bwd_reg_dot<DPL>(kj, qh, a.hd);
        const float p = expf((float)(s - st.x));
        const float dp = bwd_reg_dot<DPL>(vj, oh, a.hd);
        bwd_reg_axpy<DPL>(dv, p, oh, a.hd);
        bwd_reg_axpy<DPL>(dk, a.scale * p * (float)(dp - st.y), qh, a.hd);
    }
    bwd_merge_store<DPL>(dk, a.dk + koff, a.hd, sh_acc);
    bwd_merge_store<DPL>(dv, a.dv + koff, a.hd, sh_acc);
}

extern "C" mot_status mot_cuda_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                                  const float *k, const float *v, int n, int n_heads, int n_kv,
                                                  int hd, int window, float scale, mot_cuda_stream stream) {
    if (n <= 0) {
        return MOT_OK;
    }
    if (n_heads <= 0 || n_kv <= 0 || n_heads % n_kv || hd <= 0 || hd > BWD_ATT_MAX_HD || window < 0 ||
        (long long)n * n_heads > INT32_MAX) {
        return mot_fail(MOT_ERR_ARG, "cuda attention_backward: unsupported dims (n %d, heads %d, kv %d, hd %d <= %d, "
                                     "window %d)",
                        n, n_heads, n_kv, hd, BWD_ATT_MAX_HD, window);
    }
    cudaStream_t s = (cudaStream_t)stream;
    void *stats;
    MOT_TRY(bwd_scratch(&stats, sizeof(double2) * (size_t)n * n_heads, s, "attention_backward"));
    const attn_bwd_args a = {dq, dk, dv, (double2 *)stats, dout, q, k, v, n, n_heads, n_kv, hd, window, scale};
#define LAUNCH(DPL)                                                                                                \
    do {                                                                                                           \
        attention_backward_query_kernel<DPL><<<(unsigned)(n * n_heads), BWD_ATT_THREADS, 0, s>>>(a);             \
        attention_backward_key_kernel<DPL><<<(unsigned)(n * n_kv), BWD_ATT_THREADS, 0, s>>>(a);                  \
    } while (0)
    BWD_ATT_DISPATCH(hd, LAUNCH);
#undef LAUNCH
    const cudaError_t e = cudaGetLastError();
    const mot_status st = e == cudaSuccess
                              ? MOT_OK
                              : mot_fail(MOT_ERR_INTERNAL, "cuda attention_backward: launch: %s", cudaGetErrorString(e));
    return bwd_scratch_free(stats, s, st);
}

// ---- the plan op (ops/op_table.h): static shapes from the op, device buffers from the arena ----

extern "C" mot_status mot_cuda_op_attention_backward(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                     mot_cuda_stream stream) {
    const mot_op_attention_backward *op = &l->op->attention_backward;
    float *dq = op_buf<float>(l, op->dq), *dk = op_buf<float>(l, op->dk), *dv = op_buf<float>(l, op->dv);
    const float *dout = op_buf<const float>(l, op->dout), *q = op_buf<const float>(l, op->q),
                *k = op_buf<const float>(l, op->k), *v = op_buf<const float>(l, op->v);
    MOT_OP_REQUIRE(dq && dk && dv && dout && q && k && v, "cuda attention_backward: missing buffer");
    return mot_cuda_attention_backward(dq, dk, dv, dout, q, k, v, op->n, op->n_heads, op->n_kv, op->hd, op->window,
                                       op->scale, stream);
}
