// Rotary embedding in place, HF rotate-half layout (see kernels/cpu/kernels.h), and its backward.
// x: [n, n_heads, hd]; one thread per (token, head, i < hd/2).
#include "kernels/cuda/backward_common.cuh"

__global__ void rope_kernel(float *x, int n, int n_heads, int hd, int pos0, const float *inv_freq) {
    const int half = hd / 2;
    const size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (idx >= (size_t)n * n_heads * half) {
        return;
    }
    const int i = (int)(idx % half);
    const size_t head = idx / half;  // token * n_heads + h
    const int t = (int)(head / n_heads);
    float s, c;
    sincosf((float)(pos0 + t) * inv_freq[i], &s, &c);
    float *v = x + head * hd;
    const float x0 = v[i], x1 = v[i + half];
    v[i] = x0 * c - x1 * s;
    v[i + half] = x1 * c + x0 * s;
}

extern "C" mot_status mot_cuda_rope(float *x, int n, int n_heads, int hd, int pos0, const float *inv_freq,
                                    mot_cuda_stream stream) {
    const size_t total = (size_t)n * n_heads * (hd / 2);
    rope_kernel<<<(unsigned)((total + 255) / 256), 256, 0, (cudaStream_t)stream>>>(x, n, n_heads, hd, pos0,
                                                                                   inv_freq);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// ROPE_APPEND: q [n, n_heads, hd] and k [n, n_kv, hd] rotated in place at positions pos + t,
// then k and v stored into the layer caches at position pos + t (kv head g of position j at
// j * kv_stride + g * head_stride floats). One thread per (t, head of q then k, i < hd/2); a
// k thread also stores its two rotated values and copies the matching two v values, so no
// second pass is needed.
__global__ void rope_append_kernel(float *q, float *k, const float *v, float *k_cache, float *v_cache,
                                   int n_heads, int n_kv, int hd, int kv_stride, long long head_stride,
                                   const float *inv_freq, const mot_step_state *step, int lane) {
    const int n = step->lane[lane].n_new, pos = step->lane[lane].pos;
    const int half = hd / 2, heads = n_heads + n_kv;
    const size_t count = (size_t)n * heads * half;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < count;
         idx += (size_t)gridDim.x * blockDim.x) {
        const int i = (int)(idx % half);
        const int hh = (int)((idx / half) % heads);
        const int t = (int)(idx / ((size_t)half * heads));
        float s, c;
        sincosf((float)(pos + t) * inv_freq[i], &s, &c);
        float *x = hh < n_heads ? q + ((size_t)t * n_heads + hh) * hd : k + ((size_t)t * n_kv + (hh - n_heads)) * hd;
        const float x0 = x[i], x1 = x[i + half];
        const float y0 = x0 * c - x1 * s, y1 = x1 * c + x0 * s;
        x[i] = y0;
        x[i + half] = y1;
        if (hh >= n_heads) {
            const int g = hh - n_heads;
            const size_t row = (size_t)(pos + t) * kv_stride + (size_t)g * head_stride;
            const float *vr = v + ((size_t)t * n_kv + g) * hd;
            k_cache[row + i] = y0;
            k_cache[row + i + half] = y1;
            v_cache[row + i] = vr[i];
            v_cache[row + i + half] = vr[i + half];
        }
    }
}

extern "C" mot_status mot_cuda_op_rope_append(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    const mot_op_rope_append *r = &l->op->rope_append;
    const mot_op_kv *op = &r->kv;
    float *q = op_buf<float>(l, r->q), *k = op_buf<float>(l, r->k);
    const float *v = op_buf<const float>(l, r->v);
    float *kc = op_buf<float>(l, op->k_cache), *vc = op_buf<float>(l, op->v_cache);
    MOT_OP_REQUIRE(q && k && v && kc && vc && r->inv_freq, "cuda rope_append: missing buffer or inv_freq");
    MOT_OP_REQUIRE(op->hd > 0 && op->hd % 2 == 0 && op->n_heads > 0 && op->n_kv > 0 && op->kv_stride >= op->hd &&
                       op->kv_head_stride >= op->hd,
                   "cuda rope_append: bad dims (heads %d, kv %d, hd %d, kv_stride %d, kv_head_stride %lld)",
                   op->n_heads, op->n_kv, op->hd, op->kv_stride, (long long)op->kv_head_stride);
    const size_t width = (size_t)(op->n_heads + op->n_kv) * (op->hd / 2);
    rope_append_kernel<<<op_elem_grid(l, width, 256), 256, 0, (cudaStream_t)stream>>>(
        q, k, v, kc, vc, op->n_heads, op->n_kv, op->hd, op->kv_stride, (long long)op->kv_head_stride, r->inv_freq, l->step,
        l->op->lane);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// The backward (kernels/cuda/cuda_backward.h; the CPU's is in kernels/cpu/rope.c): each pair
// (g[i], g[i + hd/2]) of a head at position pos0 + t rotated by minus the forward's angle, the
// same f32 product pos * inv_freq[i]:
//   (g[i], g[i + hd/2]) <- (g[i] c + g[i + hd/2] s, g[i + hd/2] c - g[i] s).
// One thread per (token, head of dq then of dk, i < hd/2); a thread owns its pair.
__global__ void rope_backward_kernel(float *dq, float *dk, int n, int n_heads, int n_kv, int hd, int pos0,
                                     const float *inv_freq) {
    const int half = hd / 2, heads = n_heads + n_kv;
    const size_t total = (size_t)n * heads * half;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total;
         idx += (size_t)gridDim.x * blockDim.x) {
        const int i = (int)(idx % half);
        const size_t th = idx / half; // t * heads + head
        const int t = (int)(th / heads), h = (int)(th % heads);
        float *v = h < n_heads ? (dq ? dq + ((size_t)t * n_heads + h) * hd : NULL)
                               : (dk ? dk + ((size_t)t * n_kv + (h - n_heads)) * hd : NULL);
        if (!v) {
            continue;
        }
        float s, c;
        sincosf((float)(pos0 + t) * inv_freq[i], &s, &c);
        const float a = v[i], b = v[i + half];
        v[i] = a * c + b * s;
        v[i + half] = b * c - a * s;
    }
}

extern "C" mot_status mot_cuda_rope_backward(float *dq, float *dk, int n, int n_heads, int n_kv, int hd, int pos0,
                                             const float *inv_freq, mot_cuda_stream stream) {
    const int heads = (dq ? n_heads : 0) + (dk ? n_kv : 0);
    if (n <= 0 || hd < 2 || heads <= 0) {
        return MOT_OK;
    }
    const size_t total = (size_t)n * (size_t)(n_heads + n_kv) * (size_t)(hd / 2);
    const size_t blocks = (total + 255) / 256;
    rope_backward_kernel<<<(unsigned)(blocks < 65535 ? blocks : 65535), 256, 0, (cudaStream_t)stream>>>(
        dq, dk, n, n_heads, n_kv, hd, pos0, inv_freq);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// ---- the plan op (ops/op_table.h): static shapes from the op, device buffers from the arena ----

extern "C" mot_status mot_cuda_op_rope_backward(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                mot_cuda_stream stream) {
    const mot_op_rope_backward *op = &l->op->rope_backward;
    MOT_OP_REQUIRE(op->inv_freq, "cuda rope_backward: no inv_freq");
    return mot_cuda_rope_backward(op_buf<float>(l, op->dq), op_buf<float>(l, op->dk), op->n, op->n_heads, op->n_kv,
                                  op->hd, op->pos0, op->inv_freq, stream);
}
