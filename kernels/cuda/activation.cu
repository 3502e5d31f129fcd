// SwiGLU, forward and backward: out[n, f] = silu(gate) * up   (silu(g) = g / (1 + exp(-g))).
#include "kernels/cuda/backward_common.cuh"

__global__ void swiglu_kernel(float *out, const float *gate, const float *up, size_t count) {
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < count) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

extern "C" mot_status mot_cuda_swiglu(float *out, const float *gate, const float *up, int n, int f,
                                      mot_cuda_stream stream) {
    const size_t count = (size_t)n * f;
    swiglu_kernel<<<(unsigned)((count + 255) / 256), 256, 0, (cudaStream_t)stream>>>(out, gate, up, count);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// SWIGLU op, in place on the gate: out[t, i] = silu(out[t, i]) * up[t, i] for t < n_new.
__global__ void swiglu_step_kernel(float *gate_out, const float *up, int f, const mot_step_state *step, int lane) {
    const size_t count = (size_t)step->lane[lane].n_new * f;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
        const float g = gate_out[i];
        gate_out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

extern "C" mot_status mot_cuda_op_swiglu(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    const mot_plan_op *op = l->op;
    const mot_op_swiglu *g = &op->swiglu;
    float *gate = op_buf<float>(l, g->gate);
    const float *up = op_buf<const float>(l, g->up);
    MOT_OP_REQUIRE(gate && up && g->f > 0, "cuda swiglu: missing buffer");
    swiglu_step_kernel<<<op_elem_grid(l, g->f, 256), 256, 0, (cudaStream_t)stream>>>(gate, up, g->f, l->step,
                                                                                     op->lane);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// The backward (kernels/cuda/cuda_backward.h; the CPU's is in kernels/cpu/activation.c):
// out = silu(g) u, s = 1 / (1 + e^-g):
//   dgate = dout u s (1 + g (1 - s)),  dup = dout g s,
// per element in double as the CPU (exp of a large -g is inf, then s = 0 gives 0, not NaN).
__global__ void swiglu_backward_kernel(float *dgate, float *dup, const float *dout, const float *gate,
                                       const float *up, size_t total) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const double g = gate[i], s = 1.0 / (1.0 + exp(-g)), go = dout[i];
        dgate[i] = (float)(go * up[i] * s * (1.0 + g * (1.0 - s)));
        dup[i] = (float)(go * g * s);
    }
}

extern "C" mot_status mot_cuda_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                                               const float *up, int n, int f, mot_cuda_stream stream) {
    const size_t total = n > 0 && f > 0 ? (size_t)n * (size_t)f : 0;
    if (total == 0) {
        return MOT_OK;
    }
    const size_t blocks = (total + 255) / 256;
    swiglu_backward_kernel<<<(unsigned)(blocks < 65535 ? blocks : 65535), 256, 0, (cudaStream_t)stream>>>(
        dgate, dup, dout, gate, up, total);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// ---- the plan op (ops/op_table.h): static shapes from the op, device buffers from the arena ----

extern "C" mot_status mot_cuda_op_swiglu_backward(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                  mot_cuda_stream stream) {
    const mot_op_swiglu_backward *op = &l->op->swiglu_backward;
    float *dgate = op_buf<float>(l, op->dgate), *dup = op_buf<float>(l, op->dup);
    const float *dout = op_buf<const float>(l, op->dout), *gate = op_buf<const float>(l, op->gate),
                *up = op_buf<const float>(l, op->up);
    MOT_OP_REQUIRE(dgate && dup && dout && gate && up, "cuda swiglu_backward: missing buffer");
    return mot_cuda_swiglu_backward(dgate, dup, dout, gate, up, op->n, op->f, stream);
}
