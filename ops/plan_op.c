#include "ops/plan_op.h"

const char *mot_op_kind_name(mot_op_kind k) {
    static const char *const names[MOT_OP_KIND_COUNT] = {
#define MOT_OP_NAME_(KIND, name, reads, ref, cpu, cuda, doc) [MOT_OP_##KIND] = #name,
        MOT_OP_TABLE(MOT_OP_NAME_)
#undef MOT_OP_NAME_
    };
    return (unsigned)k < MOT_OP_KIND_COUNT ? names[k] : "?";
}

unsigned mot_op_kind_reads(mot_op_kind k) {
    static const unsigned reads_of[MOT_OP_KIND_COUNT] = {
#define MOT_OP_READS_(KIND, name, reads, ref, cpu, cuda, doc) [MOT_OP_##KIND] = (reads),
        MOT_OP_TABLE(MOT_OP_READS_)
#undef MOT_OP_READS_
    };
    return (unsigned)k < MOT_OP_KIND_COUNT ? reads_of[k] : 0u;
}

const char *mot_node_kind_name(mot_node_kind k) {
    static const char *const names[MOT_NODE_KIND_COUNT] = {"stack", "projector", "attention", "sampler"};
    return (unsigned)k < MOT_NODE_KIND_COUNT ? names[k] : "?";
}

int mot_plan_op_vectors(mot_plan_op *op, const float **field[2], int64_t len[2]) {
    switch (op->kind) {
    case MOT_OP_RMSNORM:
    case MOT_OP_RMSNORM_LAST:
        field[0] = &op->rmsnorm.weight, len[0] = op->rmsnorm.d;
        return 1;
    case MOT_OP_LAYERNORM:
        field[0] = &op->layernorm.weight, len[0] = op->layernorm.d;
        field[1] = &op->layernorm.bias, len[1] = op->layernorm.d;
        return 2;
    case MOT_OP_ROPE_APPEND:
        field[0] = &op->rope_append.inv_freq, len[0] = op->rope_append.kv.hd / 2;
        return 1;
    default:
        return 0;
    }
}
