// COPY and ADD (the training tape's snapshots, a gradient's two ways in; the CPU's are kernels/cpu/copy.c):
// dst = src, src.bytes bytes, one device-to-device cudaMemcpyAsync on the lane's stream (a
// memcpy node when captured into a graph). The buffers may not overlap (ops/plan_op.h).
#include "kernels/cuda/op_common.cuh"

extern "C" mot_status mot_cuda_op_copy(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    const mot_op_copy *op = &l->op->copy;
    if (op->src.bytes == 0) {
        return MOT_OK;
    }
    void *dst = op_buf<char>(l, op->dst);
    const void *src = op_buf<const char>(l, op->src);
    MOT_OP_REQUIRE(dst && src, "cuda copy: missing buffer");
    MOT_OP_REQUIRE(op->dst.bytes >= op->src.bytes, "cuda copy: %zu bytes into a buffer of %zu",
                   (size_t)op->src.bytes, (size_t)op->dst.bytes);
    MOT_CUDA_CHECK(cudaMemcpyAsync(dst, src, op->src.bytes, cudaMemcpyDeviceToDevice, (cudaStream_t)stream));
    return MOT_OK;
}

// ADD: y += x elementwise, a grid-stride loop (the gradient that reaches a tensor by two ways).
__global__ void add_kernel(float *y, const float *x, int64_t count) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += (int64_t)gridDim.x * blockDim.x) {
        y[i] += x[i];
    }
}

extern "C" mot_status mot_cuda_op_add(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    const mot_op_add *op = &l->op->add;
    if (op->count <= 0) {
        return MOT_OK;
    }
    float *y = op_buf<float>(l, op->y);
    const float *x = op_buf<const float>(l, op->x);
    MOT_OP_REQUIRE(y && x, "cuda add: missing buffer");
    MOT_OP_REQUIRE(op->x.bytes >= (size_t)op->count * 4 && op->y.bytes >= (size_t)op->count * 4,
                   "cuda add: %lld floats in buffers of %zu and %zu bytes", (long long)op->count, (size_t)op->x.bytes,
                   (size_t)op->y.bytes);
    const int64_t blocks = (op->count + 255) / 256;
    add_kernel<<<(unsigned)(blocks < 65536 ? blocks : 65536), 256, 0, (cudaStream_t)stream>>>(y, x, op->count);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}
