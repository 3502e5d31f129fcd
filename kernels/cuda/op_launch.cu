// Dispatch of a plan op to its kernels (kernels/cuda/op_launch.h).
#include "kernels/cuda/op_common.cuh"

static mot_status dispatch(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream s) {
    switch (l->op->kind) {
    case MOT_OP_EMBED:
        return mot_cuda_op_embed(l, s);
    case MOT_OP_RMSNORM:
        return mot_cuda_op_rmsnorm(l, s);
    case MOT_OP_RMSNORM_LAST:
        return mot_cuda_op_rmsnorm_last(l, s);
    case MOT_OP_MATMUL:
        return mot_cuda_op_matmul(l, lane, s);
    case MOT_OP_ROPE_APPEND:
        return mot_cuda_op_rope_append(l, s);
    case MOT_OP_ATTENTION:
        return mot_cuda_op_attention(l, lane, s);
    case MOT_OP_SWIGLU:
        return mot_cuda_op_swiglu(l, s);
    case MOT_OP_LAYERNORM:
        return mot_cuda_op_layernorm(l, s);
    case MOT_OP_LATENT_APPEND:
        return mot_cuda_op_latent_append(l, s);
    case MOT_OP_CROSS_ATTENTION:
        return mot_cuda_op_cross_attention(l, lane, s);
    case MOT_OP_SAMPLE:
        return mot_cuda_op_sample(l, s);
    case MOT_OP_STEP_ADVANCE:
        return mot_cuda_op_step_advance(l, s);
    default:
        return mot_fail(MOT_ERR_UNSUPPORTED, "unknown op kind %d", (int)l->op->kind);
    }
}

extern "C" mot_status mot_cuda_op_launch(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    if (!l || !l->op || !l->arena || !l->step) {
        return mot_fail(MOT_ERR_ARG, "cuda launch: op, arena or step state missing");
    }
    const mot_plan_op *op = l->op;
    if (op->lane < 0 || op->lane >= MOT_MAX_LANES) {
        return mot_fail(MOT_ERR_ARG, "cuda launch: %s op on lane %d (max %d)", mot_op_kind_name(op->kind), op->lane,
                        MOT_MAX_LANES);
    }
    const mot_status st = dispatch(l, lane, stream);
    if (st != MOT_OK) {
        return mot_fail_prefix(st, "%s op (lane %d, layer %d)", mot_op_kind_name(op->kind), op->lane, op->layer);
    }
    return MOT_OK;
}
