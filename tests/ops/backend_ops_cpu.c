/* tests/ops/test_backend_ops.c's CPU backend: the plan ops through the CPU executor's own
 * entry points, inside an OpenMP team of 2 (the executor's parallel region), with its rule
 * that a dead lane (n_new = 0) runs nothing but the step advance (executor/cpu_backend.c). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/cpu_ops.h"
#include "tests/ops/backend_ops_be.h"

const char *be_name = "cpu";
const int be_has_fusion = 1;

static char *arena;
static size_t arena_bytes, used;

int be_init(size_t bytes) {
    arena = aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (!arena) {
        printf("FAIL cpu backend: no arena of %zu bytes\n", bytes);
        return 1;
    }
    arena_bytes = bytes;
    be_reset();
    return 0;
}

void be_free(void) { free(arena); }

void be_reset(void) {
    memset(arena, 0, arena_bytes);
    used = (sizeof(mot_step_state) + 255) & ~(size_t)255;
}

mot_buf be_buf(size_t bytes) {
    mot_buf b = {used, bytes};
    used += (bytes + 255) & ~(size_t)255;
    if (used > arena_bytes) {
        printf("FAIL cpu backend: arena of %zu bytes too small\n", arena_bytes);
        exit(1);
    }
    return b;
}

void be_put(mot_buf b, const void *host) { memcpy(arena + b.off, host, b.bytes); }
void be_get(void *host, mot_buf b) { memcpy(host, arena + b.off, b.bytes); }
void be_set_step(const mot_step_state *s) { memcpy(arena, s, sizeof *s); }
void be_get_step(mot_step_state *s) { memcpy(s, arena, sizeof *s); }

/* op with bind's host pointers, and the lane's sampler from the step state's stream */
static void bound_op(mot_plan_op *op, const be_bind *b) {
    for (int j = 0; j < MOT_OP_MAX_W; j++) {
        op->w[j] = b->w[j];
        op->bias[j] = b->bias[j];
    }
}

static int make_samplers(mot_sampler *s, const mot_plan_op *op, const be_bind *b) {
    memset(s, 0, sizeof(mot_sampler) * MOT_MAX_LANES);
    if (op->kind != MOT_OP_SAMPLE) {
        return 0;
    }
    const mot_sampler_params p = {.temperature = b->temperature, .top_k = b->top_k, .top_p = b->top_p, .min_p = b->min_p};
    if (mot_sampler_init(&s[op->lane], &p, 0, b->vocab) != MOT_OK) {
        return 1;
    }
    s[op->lane].rng = ((mot_step_state *)arena)->lane[op->lane].rng; /* one RNG type (common/rng.h) */
    return 0;
}

int be_run(const mot_plan_op *op_in, const be_bind *b) {
    mot_plan_op op = *op_in;
    bound_op(&op, b);
    if (op.kind != MOT_OP_STEP_ADVANCE && ((mot_step_state *)arena)->lane[op.lane].n_new == 0) {
        return 0;
    }
    mot_sampler s[MOT_MAX_LANES];
    if (make_samplers(s, &op, b)) {
        return 1;
    }
#pragma omp parallel num_threads(2)
    mot_cpu_run_op(&op, arena, s);
    mot_sampler_free(&s[op.lane]);
    return 0;
}

int be_run_plan(mot_plan *p, const be_bind *binds) {
    for (int k = 0; k < p->n_ops; k++) {
        bound_op(&p->ops[k], &binds[k]);
    }
    int first = -1;
    for (int i = 0; i < p->n_instrs;) {
        const int span = mot_cpu_fusion_span(p, i, arena);
        if (first < 0) {
            first = span;
        }
#pragma omp parallel num_threads(2)
        mot_cpu_run_span(p, i, span, arena, NULL);
        i += span;
    }
    return first;
}
