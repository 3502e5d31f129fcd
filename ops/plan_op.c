#include "ops/plan_op.h"

const char *mot_op_kind_name(mot_op_kind k) {
    static const char *const names[MOT_OP_KIND_COUNT] = {
        "embed",           "rmsnorm",  "rmsnorm_last", "matmul",        "rope_append",
        "attention",       "swiglu",   "layernorm",    "latent_append", "cross_attention",
        "sample",          "step_advance",
    };
    return (unsigned)k < MOT_OP_KIND_COUNT ? names[k] : "?";
}

const char *mot_node_kind_name(mot_node_kind k) {
    static const char *const names[MOT_NODE_KIND_COUNT] = {"stack", "projector", "attention", "sampler"};
    return (unsigned)k < MOT_NODE_KIND_COUNT ? names[k] : "?";
}
