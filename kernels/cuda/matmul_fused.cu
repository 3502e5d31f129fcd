// The plan's fused decode ops (scheduler/plan_fuse.c) on the device:
//   RMSNORM_MATMUL          RMSNORM (or RMSNORM_LAST before the LM head) + MATMUL (q/k/v, LM head)
//   RMSNORM_MATMUL_SWIGLU   RMSNORM + MATMUL (gate, up) + SWIGLU
//   RMSNORM_MATMUL_ROPE_APPEND  RMSNORM + MATMUL (q, k, v) + ROPE_APPEND
// as one launch of the fused decode GEMV (mot_cuda_gemv_norm, matmul_gemv.cu; quant.cu for
// ggml's blocks) when its weights are f32, f16 or bf16 of one dtype, or quantized (types may
// mix), and the op has at most MOT_CUDA_GEMV_MAX_N rows; otherwise (plain dtypes mixed, a norm
// width that is not the weights', quantized rows too wide for the normed x in shared memory)
// its parts one after another through the plain ops' launches, as the unfused plan would.
#include "kernels/cuda/op_common.cuh"

static mot_status run_parts(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream, int third) {
    for (int part = 0; part < 2 + (third != 0); part++) {
        mot_plan_op one = mot_plan_op_part(l->op, part);
        if (one.kind == MOT_OP_SWIGLU) {
            one.swiglu.f = (int)l->w[0].rows; /* the launch's weights (the op's may be host descriptors or unset) */
        }
        mot_gpu_launch sub = *l;
        sub.op = &one;
        mot_status st = MOT_OK;
        if (part == 0) {
            st = one.kind == MOT_OP_RMSNORM_LAST ? mot_cuda_op_rmsnorm_last(&sub, lane, stream)
                                                 : mot_cuda_op_rmsnorm(&sub, lane, stream);
        } else if (part == 1) {
            st = mot_cuda_op_matmul(&sub, lane, stream);
        } else if (one.kind == MOT_OP_ROPE_APPEND) {
            st = mot_cuda_op_rope_append(&sub, lane, stream);
        } else {
            st = mot_cuda_op_swiglu(&sub, lane, stream);
        }
        MOT_TRY(st);
    }
    return MOT_OK;
}

// third: 0, 1 SwiGLU, 2 RoPE + KV append
static mot_status launch_fused(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream, int third) {
    const mot_plan_op *op = l->op;
    const mot_op_rmsnorm_matmul *fm = &op->rmsnorm_matmul;
    const int swiglu = third == 1;
    const float *x = op_buf<const float>(l, fm->norm.x);
    float *norm_out = op_buf<float>(l, fm->norm.out);
    MOT_OP_REQUIRE(x && norm_out && fm->norm.weight && fm->norm.d > 0 && op->n_w >= 1 && op->n_w <= MOT_OP_MAX_W &&
                       !fm->matmul.accumulate && (!swiglu || op->n_w == 2) && (third != 2 || op->n_w == 3),
                   "cuda %s: bad op (x, norm output, weight, width %d, %d weights)", mot_op_kind_name(op->kind),
                   fm->norm.d, op->n_w);
    const int last = fm->matmul.single_row;
    const int n = last ? 1 : l->rows;
    mot_cuda_gemv_rope rope = {};
    if (third == 2) {
        const mot_op_rope_append *r = &fm->rope;
        rope.k_cache = op_buf<float>(l, r->kv.k_cache), rope.v_cache = op_buf<float>(l, r->kv.v_cache);
        rope.inv_freq = r->inv_freq, rope.n_heads = r->kv.n_heads, rope.n_kv = r->kv.n_kv, rope.hd = r->kv.hd;
        rope.kv_stride = r->kv.kv_stride, rope.head_stride = r->kv.kv_head_stride;
    }
    const mot_cuda_gemv_rope *rp = third == 2 ? &rope : NULL;
    if (!mot_cuda_gemv_norm_takes(l->w, l->bias, op->n_w, n, fm->norm.d, swiglu, rp)) {
        return run_parts(l, lane, stream, third);
    }
    float *y[MOT_OP_MAX_W] = {NULL, NULL, NULL};
    for (int j = 0; j < op->n_w; j++) {
        y[j] = op_buf<float>(l, fm->matmul.y[j]);
    }
    return mot_cuda_gemv_norm(y, l->w, l->bias, op->n_w, x, fm->norm.weight, fm->norm.eps, norm_out,
                              &l->step->lane[op->lane], last, n, swiglu, rp, stream);
}

extern "C" mot_status mot_cuda_op_rmsnorm_matmul(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                 mot_cuda_stream stream) {
    return launch_fused(l, lane, stream, 0);
}

extern "C" mot_status mot_cuda_op_rmsnorm_matmul_swiglu(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                        mot_cuda_stream stream) {
    return launch_fused(l, lane, stream, 1);
}

extern "C" mot_status mot_cuda_op_rmsnorm_matmul_rope_append(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                             mot_cuda_stream stream) {
    return launch_fused(l, lane, stream, 2);
}
