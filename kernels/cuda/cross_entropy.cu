// Cross-entropy over logit rows on the device (kernels/cuda/cuda_backward.h; the CPU's is
// kernels/cpu/cross_entropy.c), one block per row, in double as the CPU: the max in f32 (exact),
// each exp((double)l - max) in double, their sum in double through a fixed block tree, and
// loss = log(sum) + max - l[target]. With dlogits, each element is formed as the CPU forms it:
// (float)((double)(float)e * (scale / sum)), and the target's (float)(e * k - scale). Rows
// with a target < 0 add nothing and get a zero gradient row. The rows' losses go to scratch
// and one thread adds them in row order into *loss, so the total does not depend on the grid.
#include "kernels/cuda/backward_common.cuh"

__global__ void __launch_bounds__(BWD_THREADS)
    cross_entropy_row_kernel(double *row_loss, float *dlogits, const float *logits, const int *targets, int vocab,
                             float scale) {
    __shared__ double shd[32];
    __shared__ float shf[32];
    const int t = blockIdx.x, target = targets[t];
    const float *l = logits + (size_t)t * vocab;
    float *d = dlogits ? dlogits + (size_t)t * vocab : NULL;
    if (target < 0 || target >= vocab) { // >= vocab: the caller's error; no gradient, no loss
        if (d) {
            for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
                d[j] = 0.0f;
            }
        }
        if (threadIdx.x == 0) {
            row_loss[t] = target < 0 ? 0.0 : (double)NAN;
        }
        return;
    }
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
        mx = fmaxf(mx, l[j]);
    }
    mx = mot_block_max(mx, shf);
    double sum = 0.0;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
        const double e = exp((double)l[j] - mx);
        sum += e;
        if (d) {
            d[j] = (float)e;
        }
    }
    sum = mot_block_sum(sum, shd);
    if (d) {
        const double k = scale / sum;
        // each thread rescales the elements it wrote above (no barrier needed)
        for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
            d[j] = j == target ? (float)(exp((double)l[target] - mx) * k - scale) : (float)(d[j] * k);
        }
    }
    if (threadIdx.x == 0) {
        row_loss[t] = log(sum) + mx - l[target];
    }
}

// *loss = sum of row_loss in row order (one thread: the CPU's order, bit for bit the same sum).
__global__ void cross_entropy_sum_kernel(double *loss, const double *row_loss, int n) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        double total = 0.0;
        for (int t = 0; t < n; t++) {
            total += row_loss[t];
        }
        *loss = total;
    }
}

extern "C" mot_status mot_cuda_cross_entropy(double *loss, float *dlogits, const float *logits, const int *targets,
                                             int n, int vocab, float scale, mot_cuda_stream stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (!loss || vocab <= 0) {
        return mot_fail(MOT_ERR_ARG, "cuda cross_entropy: %s, vocab %d", loss ? "loss set" : "no loss", vocab);
    }
    if (n <= 0) {
        MOT_CUDA_CHECK(cudaMemsetAsync(loss, 0, sizeof(double), s));
        return MOT_OK;
    }
    void *row_loss;
    MOT_TRY(bwd_scratch(&row_loss, sizeof(double) * (size_t)n, s, "cross_entropy"));
    cross_entropy_row_kernel<<<(unsigned)n, BWD_THREADS, 0, s>>>((double *)row_loss, dlogits, logits, targets, vocab,
                                                                 scale);
    cross_entropy_sum_kernel<<<1, 32, 0, s>>>(loss, (const double *)row_loss, n);
    const cudaError_t e = cudaGetLastError();
    const mot_status st =
        e == cudaSuccess ? MOT_OK : mot_fail(MOT_ERR_INTERNAL, "cuda cross_entropy: launch: %s", cudaGetErrorString(e));
    return bwd_scratch_free(row_loss, s, st);
}

// ---- the plan op (ops/op_table.h): static shapes from the op, device buffers from the arena ----

extern "C" mot_status mot_cuda_op_cross_entropy(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                mot_cuda_stream stream) {
    const mot_op_cross_entropy *op = &l->op->cross_entropy;
    double *loss = op_buf<double>(l, op->loss);
    const float *logits = op_buf<const float>(l, op->logits);
    const int *targets = op_buf<const int>(l, op->targets);
    MOT_OP_REQUIRE(loss && logits && targets, "cuda cross_entropy: missing buffer");
    return mot_cuda_cross_entropy(loss, op_buf<float>(l, op->dlogits), logits, targets, op->n, op->vocab, op->scale,
                                  stream);
}
