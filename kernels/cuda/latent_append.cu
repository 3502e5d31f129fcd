// LATENT_APPEND: the n_new new rows of the interaction keys and values (in, in2: [n, d_s]) stored
// into this stack's latent caches (kv[0], kv[1]: [ctx, d_s]) at rows rows + t. A dead lane
// (n_new = 0) stores nothing.
#include "kernels/cuda/op_common.cuh"

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
