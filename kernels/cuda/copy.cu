// COPY (the training tape's snapshots of a residual stream; the CPU's is kernels/cpu/copy.c):
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
