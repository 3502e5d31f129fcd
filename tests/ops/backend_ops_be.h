/* The backend under test in tests/ops/test_backend_ops.c: an arena with the step state at
 * offset 0 (as the executors lay it out), buffers bump-allocated after it, and one plan op at a
 * time run as the backend's executor runs it. Two implementations: backend_ops_cpu.c (the CPU
 * executor's mot_cpu_run_op / mot_cpu_run_span inside an OpenMP team) and backend_ops_cuda.c
 * (the real mot_gpu_api table; exit 77 without a GPU). */
#ifndef MOT_TESTS_OPS_BACKEND_OPS_BE_H
#define MOT_TESTS_OPS_BACKEND_OPS_BE_H

#include <stddef.h>

#include "scheduler/plan.h"

/* The weights an op reads besides the arena, as host data; the backend maps them (device
 * copies), as it maps the op's own f32 vectors (mot_plan_op_vectors). */
typedef struct {
    const mot_weight *w[MOT_OP_MAX_W];
    const float *bias[MOT_OP_MAX_W]; /* [w[j]->rows] or NULL */
    int rows, max_rows;              /* GPU launch sizes: host rows (1 in decode), buffer rows */
    int vocab;                       /* SAMPLE: vocabulary; EMBED: table rows */
    float temperature, top_p, min_p; /* SAMPLE */
    int top_k;
} be_bind;

extern const char *be_name;
/* Whether the CPU executor's fusion (executor/cpu_ops.h) is available: the fused cases. */
extern const int be_has_fusion;

/* 0, or 77 when the backend is absent (no GPU). */
int be_init(size_t arena_bytes);
void be_free(void);
/* Starts a fresh arena: every buffer handed out before is gone. */
void be_reset(void);
mot_buf be_buf(size_t bytes);
void be_put(mot_buf b, const void *host);
void be_get(void *host, mot_buf b);
void be_set_step(const mot_step_state *s);
void be_get_step(mot_step_state *s);
/* Runs op (its w/bias pointers are ignored: bind's are used); 0 on success. */
int be_run(const mot_plan_op *op, const be_bind *bind);
/* CPU only: runs a small plan's program as the CPU executor does (fusion spans); returns
 * the span the first instruction ran as, or -1. binds[k] belongs to p->ops[k]. */
int be_run_plan(mot_plan *p, const be_bind *binds);

#endif
