/* The plan-level fusions of a decode step (scheduler/plan.h, mot_plan_fuse): the RUNs of one
 * lane RMSNORM -> MATMUL (-> SWIGLU, or -> ROPE_APPEND) into one op, so that the plan, the
 * traces (`--profile`), mot_plan_print and the CUDA executor's launches (one fused GEMV,
 * kernels/cuda/matmul_fused.cu) see the fusion; the CPU executor runs a fused op with the same GEMV it fuses these pairs into at
 * run time (executor/cpu_ops.c), so its bits do not change.
 * Ops are appended with their RUN (plan_compile.c), so op order is RUN order and the ops can
 * be compacted in place: the new index of an op is never past its old one. */
#include "scheduler/plan.h"

/* prog[i]'s op when it is a RUN on `lane`, else NULL. */
static const mot_plan_op *run_on(const mot_plan *p, int i, int lane) {
    if (i >= p->n_instrs || p->prog[i].kind != MOT_INSTR_RUN || p->prog[i].lane != lane) {
        return NULL;
    }
    return &p->ops[p->prog[i].arg];
}

int mot_plan_fuse(mot_plan *p) {
    int n_ops = 0, n_instrs = 0;
    for (int i = 0; i < p->n_instrs;) {
        const mot_instr in = p->prog[i];
        if (in.kind != MOT_INSTR_RUN) {
            p->prog[n_instrs++] = in;
            i++;
            continue;
        }
        const mot_plan_op *a = &p->ops[in.arg];
        const mot_plan_op *b = run_on(p, i + 1, in.lane), *c = run_on(p, i + 2, in.lane);
        mot_plan_op op = *a;
        int span = 1;
        if ((a->kind == MOT_OP_RMSNORM || a->kind == MOT_OP_RMSNORM_LAST) && mot_plan_op_norm_feeds(a, b)) {
            const int third = mot_plan_op_swiglu_after(b, c) || mot_plan_op_rope_after(b, c);
            op = mot_plan_op_fuse(a, b, third ? c : NULL);
            span = 2 + third;
        }
        p->ops[n_ops] = op; /* n_ops <= in.arg: a, b, c are read above */
        p->prog[n_instrs++] = (mot_instr){MOT_INSTR_RUN, in.lane, n_ops++};
        i += span;
    }
    const int removed = p->n_ops - n_ops;
    p->n_ops = n_ops, p->n_instrs = n_instrs;
    return removed;
}
