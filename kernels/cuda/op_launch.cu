// Dispatch of a plan op to its kernels (kernels/cuda/op_launch.h).
#include "common/error.h"
#include "kernels/cuda/op_launch.h"

typedef mot_status (*cuda_launch_fn)(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream);

// Indexed by kind, generated from the op table (ops/op_table.h): a kind without its CUDA op
// launch does not compile.
static const cuda_launch_fn cuda_launch[MOT_OP_KIND_COUNT] = {
#define CUDA_LAUNCH_(KIND, name, reads, ref, cpu, cuda, doc) cuda,
    MOT_OP_TABLE(CUDA_LAUNCH_)
#undef CUDA_LAUNCH_
};

static mot_status dispatch(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream s) {
    if ((unsigned)l->op->kind >= MOT_OP_KIND_COUNT) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "unknown op kind %d", (int)l->op->kind);
    }
    return cuda_launch[l->op->kind](l, lane, s);
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
