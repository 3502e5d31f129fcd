// Embedding rows to f32: out[t, :] = table[tokens[t], :]  (table F32, F16 or BF16 on the device;
// ggml's quantized tables go to kernels/cuda/quant.cu, which dequantizes the row).
#include "kernels/cuda/op_common.cuh"

template <typename T>
__global__ void embed_kernel(float *out, const T *table, const int *tokens, int d) {
    const T *row = table + (size_t)tokens[blockIdx.x] * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        out[(size_t)blockIdx.x * d + i] = mot_to_float<T>(row[i]);
    }
}

extern "C" mot_status mot_cuda_embed_rows(float *out, const mot_weight *table, const int *tokens, int n,
                                          mot_cuda_stream stream) {
    const int d = (int)table->cols;
    cudaStream_t s = (cudaStream_t)stream;
    switch (table->dtype) {
    case MOT_DTYPE_F32:
        embed_kernel<float><<<n, 256, 0, s>>>(out, (const float *)table->data, tokens, d);
        break;
    case MOT_DTYPE_F16:
        embed_kernel<__half><<<n, 256, 0, s>>>(out, (const __half *)table->data, tokens, d);
        break;
    case MOT_DTYPE_BF16:
        embed_kernel<__nv_bfloat16><<<n, 256, 0, s>>>(out, (const __nv_bfloat16 *)table->data, tokens, d);
        break;
    default:
        if (mot_dtype_is_quantized(table->dtype)) {
            return mot_cuda_quant_embed(out, table, tokens, d, (int)table->rows, NULL, 0, n, (unsigned)(n > 0 ? n : 1), stream);
        }
        return mot_fail(MOT_ERR_UNSUPPORTED, "cuda embed: table dtype %s", mot_dtype_name(table->dtype));
    }
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// EMBED op: rows t < n_new of out[n, d]; tokens int32 [n]; table [n_rows, stride]. A token
// outside the table (a corrupt id) gives a zero row rather than a wild read.
template <typename T>
__global__ void embed_step_kernel(float *out, const T *table, const int *tokens, int d, int stride, int n_rows,
                                  const mot_step_state *step, int lane) {
    const int n = step->lane[lane].n_new;
    for (int t = blockIdx.x; t < n; t += gridDim.x) {
        const int tok = tokens[t];
        const bool ok = tok >= 0 && tok < n_rows;
        const T *row = table + (size_t)(ok ? tok : 0) * stride;
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            out[(size_t)t * d + i] = ok ? mot_to_float<T>(row[i]) : 0.0f;
        }
    }
}

extern "C" mot_status mot_cuda_op_embed(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    const mot_plan_op *op = l->op;
    const mot_weight *w = &l->w[0];
    const int d = op->embed.d > 0 ? op->embed.d : (int)w->cols;
    const int n_rows = w->rows > 0 ? (int)w->rows : l->vocab;
    float *out = op_buf<float>(l, op->embed.out);
    const int *tokens = op_buf<const int>(l, op->embed.tokens);
    MOT_OP_REQUIRE(out && tokens && w->data && d <= w->cols, "cuda embed: missing buffer or table (d %d, cols %lld)",
                   d, (long long)w->cols);
    const unsigned grid = op_row_grid(l);
    cudaStream_t s = (cudaStream_t)stream;
    switch (w->dtype) {
    case MOT_DTYPE_F32:
        embed_step_kernel<float><<<grid, 256, 0, s>>>(out, (const float *)w->data, tokens, d, (int)w->cols, n_rows,
                                                      l->step, op->lane);
        break;
    case MOT_DTYPE_F16:
        embed_step_kernel<__half><<<grid, 256, 0, s>>>(out, (const __half *)w->data, tokens, d, (int)w->cols,
                                                       n_rows, l->step, op->lane);
        break;
    case MOT_DTYPE_BF16:
        embed_step_kernel<__nv_bfloat16><<<grid, 256, 0, s>>>(out, (const __nv_bfloat16 *)w->data, tokens, d,
                                                              (int)w->cols, n_rows, l->step, op->lane);
        break;
    default:
        if (mot_dtype_is_quantized(w->dtype)) {
            return mot_cuda_quant_embed(out, w, tokens, d, n_rows, l->step, op->lane, 0, grid, stream);
        }
        return mot_fail(MOT_ERR_UNSUPPORTED, "cuda embed: table dtype %s", mot_dtype_name(w->dtype));
    }
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}
