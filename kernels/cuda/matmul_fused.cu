// The plan's fused decode ops (scheduler/plan_fuse.c) on the device:
//   RMSNORM_MATMUL          RMSNORM (or RMSNORM_LAST before the LM head) + MATMUL (q/k/v, LM head)
//   RMSNORM_MATMUL_SWIGLU   RMSNORM + MATMUL (gate, up) + SWIGLU
// as one launch of the fused decode GEMV (mot_cuda_gemv_norm, matmul_gemv.cu) when its weights
// are f32, f16 or bf16 of one dtype and the op has at most MOT_CUDA_GEMV_MAX_N rows; otherwise
// (quantized weights, mixed dtypes, a norm width that is not the weights') its parts one after
// another through the plain ops' launches, as the unfused plan would run them.
#include "kernels/cuda/op_common.cuh"

static mot_status run_parts(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream, int swiglu) {
    for (int part = 0; part < 2 + swiglu; part++) {
        mot_plan_op one = mot_plan_op_part(l->op, part);
        if (part == 2) {
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
        } else {
            st = mot_cuda_op_swiglu(&sub, lane, stream);
        }
        MOT_TRY(st);
    }
    return MOT_OK;
}

static mot_status launch_fused(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream, int swiglu) {
    const mot_plan_op *op = l->op;
    const mot_op_rmsnorm_matmul *fm = &op->rmsnorm_matmul;
    const float *x = op_buf<const float>(l, fm->norm.x);
    float *norm_out = op_buf<float>(l, fm->norm.out);
    MOT_OP_REQUIRE(x && norm_out && fm->norm.weight && fm->norm.d > 0 && op->n_w >= 1 && op->n_w <= MOT_OP_MAX_W &&
                       !fm->matmul.accumulate && (!swiglu || op->n_w == 2),
                   "cuda %s: bad op (x, norm output, weight, width %d, %d weights)", mot_op_kind_name(op->kind),
                   fm->norm.d, op->n_w);
    const int last = fm->matmul.single_row;
    const int n = last ? 1 : l->rows;
    if (!mot_cuda_gemv_norm_takes(l->w, l->bias, op->n_w, n, fm->norm.d, swiglu)) {
        return run_parts(l, lane, stream, swiglu);
    }
    float *y[MOT_OP_MAX_W] = {NULL, NULL, NULL};
    for (int j = 0; j < op->n_w; j++) {
        y[j] = op_buf<float>(l, fm->matmul.y[j]);
    }
    return mot_cuda_gemv_norm(y, l->w, l->bias, op->n_w, x, fm->norm.weight, fm->norm.eps, norm_out,
                              &l->step->lane[op->lane].n_new, last, n, swiglu, stream);
}

extern "C" mot_status mot_cuda_op_rmsnorm_matmul(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                 mot_cuda_stream stream) {
    return launch_fused(l, lane, stream, 0);
}

extern "C" mot_status mot_cuda_op_rmsnorm_matmul_swiglu(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                        mot_cuda_stream stream) {
    return launch_fused(l, lane, stream, 1);
}
