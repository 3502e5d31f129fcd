// Row norms, one block per row:
//   RMSNorm   out[t] = x[t] * rsqrt(mean(x[t]^2) + eps) * w             (HF LlamaRMSNorm, f32)
//   LayerNorm out[t] = (x[t] - mean) / sqrt(var + eps) * w + b           (biased var, PyTorch)
// x, out: [n, d]; out may equal x (each element is read before the same thread writes it).
// Their backward follows.
#include "kernels/cuda/backward_common.cuh"

__device__ void rmsnorm_row(float *dst, const float *row, const float *w, int d, float eps, float *sh) {
    float ss = 0.0f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        ss += row[i] * row[i];
    }
    const float scale = rsqrtf(mot_block_sum(ss, sh) / d + eps);
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        dst[i] = row[i] * scale * w[i];
    }
}

__global__ void rmsnorm_kernel(float *out, const float *x, const float *w, int d, float eps) {
    __shared__ float sh[32];
    rmsnorm_row(out + (size_t)blockIdx.x * d, x + (size_t)blockIdx.x * d, w, d, eps, sh);
}

extern "C" mot_status mot_cuda_rmsnorm(float *out, const float *x, const float *w, int n, int d, float eps,
                                       mot_cuda_stream stream) {
    rmsnorm_kernel<<<n, 256, 0, (cudaStream_t)stream>>>(out, x, w, d, eps);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// RMSNORM: rows t < n_new.  last: only row n_new - 1, written to out row 0 (before the LM head).
__global__ void rmsnorm_step_kernel(float *out, const float *x, const float *w, int d, float eps,
                                    const mot_step_state *step, int lane, int last) {
    __shared__ float sh[32];
    const int n = step->lane[lane].n_new;
    if (last) {
        if (n > 0 && blockIdx.x == 0) {
            rmsnorm_row(out, x + (size_t)(n - 1) * d, w, d, eps, sh);
        }
        return;
    }
    for (int t = blockIdx.x; t < n; t += gridDim.x) {
        rmsnorm_row(out + (size_t)t * d, x + (size_t)t * d, w, d, eps, sh);
    }
}

static mot_status launch_rmsnorm(const mot_gpu_launch *l, mot_cuda_stream stream, int last) {
    const mot_op_rmsnorm *op = &l->op->rmsnorm;
    float *out = op_buf<float>(l, op->out);
    const float *x = op_buf<const float>(l, op->x);
    MOT_OP_REQUIRE(out && x && op->weight && op->d > 0, "cuda rmsnorm: missing buffer or weight");
    const unsigned grid = last ? 1u : op_row_grid(l);
    rmsnorm_step_kernel<<<grid, 256, 0, (cudaStream_t)stream>>>(out, x, op->weight, op->d, op->eps, l->step,
                                                               l->op->lane, last);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

extern "C" mot_status mot_cuda_op_rmsnorm(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    return launch_rmsnorm(l, stream, 0);
}

extern "C" mot_status mot_cuda_op_rmsnorm_last(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    return launch_rmsnorm(l, stream, 1);
}

// LAYERNORM: rows t < n_new. w or b NULL: weight 1 / bias 0. Two reductions (mean, then the
// centred sum of squares) as PyTorch, not E[x^2] - mean^2 which cancels badly.
__global__ void layernorm_step_kernel(float *out, const float *x, const float *w, const float *b, int d, float eps,
                                      const mot_step_state *step, int lane) {
    __shared__ float sh[32];
    const int n = step->lane[lane].n_new;
    for (int t = blockIdx.x; t < n; t += gridDim.x) {
        const float *row = x + (size_t)t * d;
        float *dst = out + (size_t)t * d;
        float s = 0.0f;
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            s += row[i];
        }
        const float mean = mot_block_sum(s, sh) / d;
        float ss = 0.0f;
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            const float c = row[i] - mean;
            ss += c * c;
        }
        const float inv = 1.0f / sqrtf(mot_block_sum(ss, sh) / d + eps);
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            const float y = (row[i] - mean) * inv;
            dst[i] = (w ? y * w[i] : y) + (b ? b[i] : 0.0f);
        }
    }
}

extern "C" mot_status mot_cuda_op_layernorm(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    const mot_op_layernorm *op = &l->op->layernorm;
    float *out = op_buf<float>(l, op->out);
    const float *x = op_buf<const float>(l, op->x);
    MOT_OP_REQUIRE(out && x && op->d > 0, "cuda layernorm: missing buffer");
    layernorm_step_kernel<<<op_row_grid(l), 256, 0, (cudaStream_t)stream>>>(out, x, op->weight, op->bias, op->d,
                                                                            op->eps, l->step, l->op->lane);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// The backward (kernels/cuda/cuda_backward.h; the CPU's is in kernels/cpu/norm.c, whose
// formulas these are): one block per row, the per-row reductions (sum x^2, sum dy w x, mean,
// variance, the two means of LayerNorm's dx) in double through a fixed tree, the elementwise
// parts as the CPU writes them. LayerNorm's dw, db sum over the rows by per-block partials
// reduced in a fixed order (backward_common.cuh), from each row's mean and r kept in
// stream-ordered scratch.

// y = x r w, r = (sum x^2 / d + eps)^-1/2: dx_i = r w_i dy_i - x_i r^3 / d * sum_j dy_j w_j x_j.
__global__ void __launch_bounds__(BWD_THREADS)
    rmsnorm_backward_kernel(float *dx, const float *dy, const float *x, const float *w, int d, float eps,
                            int accumulate) {
    __shared__ double sh[32];
    const size_t off = (size_t)blockIdx.x * d;
    const float *xr = x + off, *gr = dy + off;
    float *o = dx + off;
    double ss = 0.0, dot = 0.0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        ss += (double)xr[i] * xr[i];
        dot += (double)gr[i] * w[i] * xr[i];
    }
    ss = mot_block_sum(ss, sh);
    dot = mot_block_sum(dot, sh);
    const double r = 1.0 / sqrt(ss / d + eps);
    const float rf = (float)r, cf = (float)(r * r * r * dot / d);
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        const float g = rf * w[i] * gr[i] - cf * xr[i];
        o[i] = accumulate ? o[i] + g : g;
    }
}

extern "C" mot_status mot_cuda_rmsnorm_backward(float *dx, const float *dy, const float *x, const float *w, int n,
                                                int d, float eps, int accumulate, mot_cuda_stream stream) {
    if (n <= 0 || d <= 0) {
        return MOT_OK;
    }
    if (!w) {
        return mot_fail(MOT_ERR_ARG, "cuda rmsnorm_backward: missing weight");
    }
    rmsnorm_backward_kernel<<<(unsigned)n, BWD_THREADS, 0, (cudaStream_t)stream>>>(dx, dy, x, w, d, eps, accumulate);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// xh = (x - mean) r, r = (var + eps)^-1/2, g = dy w: dx_i = r (g_i - mean(g) - xh_i mean(g xh)).
// stats[t] = (mean, r) for the column pass.
__global__ void __launch_bounds__(BWD_THREADS)
    layernorm_backward_kernel(float *dx, double2 *stats, const float *dy, const float *x, const float *w, int d,
                              float eps) {
    __shared__ double sh[32];
    const int t = blockIdx.x;
    const size_t off = (size_t)t * d;
    const float *xr = x + off, *gr = dy + off;
    float *o = dx + off;
    double mean = 0.0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        mean += xr[i];
    }
    mean = mot_block_sum(mean, sh) / d;
    double var = 0.0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        var += (xr[i] - mean) * (xr[i] - mean);
    }
    var = mot_block_sum(var, sh) / d;
    const double r = 1.0 / sqrt(var + eps);
    double mg = 0.0, mgx = 0.0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        const double g = (double)gr[i] * (w ? w[i] : 1.0f);
        mg += g;
        mgx += g * (xr[i] - mean) * r;
    }
    mg = mot_block_sum(mg, sh) / d;
    mgx = mot_block_sum(mgx, sh) / d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        const double g = (double)gr[i] * (w ? w[i] : 1.0f), xh = (xr[i] - mean) * r;
        o[i] = (float)(r * (g - mg - xh * mgx));
    }
    if (threadIdx.x == 0) {
        stats[t] = make_double2(mean, r);
    }
}

// dw_i terms: dy (x - mean) r; db_i terms: dy.
struct ln_dw_at {
    const float *dy, *x;
    const double2 *stats;
    int d;
    __device__ double at(int t, int i) const {
        const size_t k = (size_t)t * d + i;
        const double2 st = stats[t];
        return dy[k] * (x[k] - st.x) * st.y;
    }
};

struct ln_db_at {
    const float *dy;
    int d;
    __device__ double at(int t, int i) const { return dy[(size_t)t * d + i]; }
};

extern "C" mot_status mot_cuda_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                                                  const float *w, int n, int d, float eps, mot_cuda_stream stream) {
    if (n <= 0 || d <= 0) {
        return MOT_OK;
    }
    cudaStream_t s = (cudaStream_t)stream;
    const int chunks = bwd_colsum_chunks(n);
    void *scratch;
    MOT_TRY(bwd_scratch(&scratch, sizeof(double2) * (size_t)n + sizeof(double) * (size_t)chunks * d, s,
                        "layernorm_backward"));
    double2 *stats = (double2 *)scratch;
    double *partial = (double *)(stats + n);
    mot_status st = MOT_OK;
    layernorm_backward_kernel<<<(unsigned)n, BWD_THREADS, 0, s>>>(dx, stats, dy, x, w, d, eps);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        st = mot_fail(MOT_ERR_INTERNAL, "cuda layernorm_backward: launch: %s", cudaGetErrorString(e));
    }
    // dw then db through the same partials (stream order: the second reuses them after the first).
    if (st == MOT_OK && dw) {
        st = bwd_colsum(dw, partial, ln_dw_at{dy, x, stats, d}, n, d, s);
    }
    if (st == MOT_OK && db) {
        st = bwd_colsum(db, partial, ln_db_at{dy, d}, n, d, s);
    }
    return bwd_scratch_free(scratch, s, st);
}

// ---- the plan op (ops/op_table.h): static shapes from the op, device buffers from the arena ----

extern "C" mot_status mot_cuda_op_rmsnorm_backward(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                   mot_cuda_stream stream) {
    const mot_op_rmsnorm_backward *op = &l->op->rmsnorm_backward;
    float *dx = op_buf<float>(l, op->dx);
    const float *dy = op_buf<const float>(l, op->dy), *x = op_buf<const float>(l, op->x);
    MOT_OP_REQUIRE(dx && dy && x && op->weight, "cuda rmsnorm_backward: missing buffer or weight");
    return mot_cuda_rmsnorm_backward(dx, dy, x, op->weight, op->n, op->d, op->eps, op->accumulate, stream);
}

extern "C" mot_status mot_cuda_op_layernorm_backward(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                     mot_cuda_stream stream) {
    const mot_op_layernorm_backward *op = &l->op->layernorm_backward;
    float *dx = op_buf<float>(l, op->dx);
    const float *dy = op_buf<const float>(l, op->dy), *x = op_buf<const float>(l, op->x);
    MOT_OP_REQUIRE(dx && dy && x, "cuda layernorm_backward: missing buffer");
    return mot_cuda_layernorm_backward(dx, op_buf<float>(l, op->dw), op_buf<float>(l, op->db), dy, x, op->weight,
                                       op->n, op->d, op->eps, stream);
}
