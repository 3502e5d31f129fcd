// Inverted dropout with a counter-based mask (ops/plan_op.h mot_op_dropout; the CPU's is
// kernels/cpu/dropout.c, the reference ops/ref_dropout.c): element i is kept iff u_i >= p, u_i
// the (i+1)-th draw of mot_splitmix64 (common/rng.h, host and device) from state `seed`, formed
// from i alone, so any thread computes its own and the mask is the CPU's bit for bit. A kept
// element is x * scale, scale = 1 / (1 - p) in f32 computed on the host as the CPU does: one
// f32 multiply, the same bits. out may be x (each element read, then written, by one thread).
#include "common/rng.h"
#include "kernels/cuda/backward_common.cuh"

__global__ void dropout_kernel(float *out, const float *x, int64_t count, float p, float scale, uint64_t seed) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count; i += (int64_t)gridDim.x * blockDim.x) {
        uint64_t s = seed + (uint64_t)i * 0x9e3779b97f4a7c15ull; // the state before draw i + 1
        const double u = (double)(mot_splitmix64(&s) >> 11) * (1.0 / 9007199254740992.0); // 2^-53
        out[i] = u >= (double)p ? x[i] * scale : 0.0f;
    }
}

extern "C" mot_status mot_cuda_dropout(float *out, const float *x, int64_t count, float p, uint64_t seed,
                                       mot_cuda_stream stream) {
    if (count <= 0) {
        return MOT_OK;
    }
    if (!out || !x || !(p >= 0.0f && p < 1.0f)) {
        return mot_fail(MOT_ERR_ARG, "cuda dropout: %s, p %g (0 <= p < 1)", out && x ? "buffers set" : "missing buffer",
                        (double)p);
    }
    const float scale = 1.0f / (1.0f - p);
    const int64_t blocks = (count + 255) / 256;
    dropout_kernel<<<(unsigned)(blocks < (1 << 20) ? blocks : (1 << 20)), 256, 0, (cudaStream_t)stream>>>(
        out, x, count, p, scale, seed);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// ---- the plan op (ops/op_table.h): static shapes from the op, device buffers from the arena ----

extern "C" mot_status mot_cuda_op_dropout(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    const mot_op_dropout *op = &l->op->dropout;
    if (op->count <= 0) {
        return MOT_OK;
    }
    float *out = op_buf<float>(l, op->out);
    const float *x = op_buf<const float>(l, op->x);
    MOT_OP_REQUIRE(out && x, "cuda dropout: missing buffer");
    MOT_OP_REQUIRE(op->p >= 0.0f && op->p < 1.0f, "cuda dropout: p %g not in [0, 1)", (double)op->p);
    const size_t bytes = (size_t)op->count * sizeof(float);
    MOT_OP_REQUIRE(op->x.bytes >= bytes && op->out.bytes >= bytes,
                   "cuda dropout: %lld elements, buffers of %zu and %zu bytes", (long long)op->count,
                   (size_t)op->x.bytes, (size_t)op->out.bytes);
    return mot_cuda_dropout(out, x, op->count, op->p, op->seed, stream);
}
