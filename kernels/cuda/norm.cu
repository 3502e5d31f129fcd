// Row norms, one block per row:
//   RMSNorm   out[t] = x[t] * rsqrt(mean(x[t]^2) + eps) * w             (HF LlamaRMSNorm, f32)
//   LayerNorm out[t] = (x[t] - mean) / sqrt(var + eps) * w + b           (biased var, PyTorch)
// x, out: [n, d]; out may equal x (each element is read before the same thread writes it).
#include "kernels/cuda/op_common.cuh"

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
