/* Plan ops on the CPU. Called by every thread of the team with the same op; the kernels split
 * their work over the team and end on a barrier, and the few lines of host logic (sampling,
 * the step advance) run on one thread inside `omp single` (which ends on a barrier too). */
#include "executor/cpu_ops.h"

#include <string.h>

#include "kernels/cpu/kernels.h"

#define F(b) ((float *)(arena + (b).off))

static mot_step_state *step_of(char *arena) { return (mot_step_state *)arena; }

/* y[n, cols] += bias, x[n, cols] += y: elementwise, split over the team. */
static void add_bias(float *y, const float *bias, int n, int64_t cols) {
    if (!bias) {
        return;
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < (int64_t)n * cols; i++) {
        y[i] += bias[i % cols];
    }
}

static void add_into(float *x, const float *y, int64_t count) {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < count; i++) {
        x[i] += y[i];
    }
}

static void run_matmul(const mot_plan_op *op, char *arena, int n) {
    const int rows = op->single_row ? 1 : n;
    mot_matmul_job jobs[MOT_OP_MAX_W];
    for (int j = 0; j < op->n_w; j++) {
        jobs[j] = (mot_matmul_job){F(op->out[j]), op->w[j], op->bias[j], op->accumulate};
    }
    if (mot_cpu_matmul_is_gemv(jobs, op->n_w, rows)) {
        /* decode: biases and the residual add in the GEMV, no passes (barriers) after it */
        mot_cpu_matmul_multi(jobs, op->n_w, F(op->in), rows);
        return;
    }
    if (op->accumulate) {
        float *y = F(op->scratch);
        mot_cpu_matmul(y, F(op->in), op->w[0], rows);
        add_bias(y, op->bias[0], rows, op->w[0]->rows);
        add_into(F(op->out[0]), y, (int64_t)rows * op->w[0]->rows);
        return;
    }
    for (int j = 0; j < op->n_w; j++) {
        jobs[j].bias = NULL, jobs[j].accumulate = 0;
    }
    mot_cpu_matmul_multi(jobs, op->n_w, F(op->in), rows);
    for (int j = 0; j < op->n_w; j++) {
        add_bias(F(op->out[j]), op->bias[j], rows, op->w[j]->rows);
    }
}

/* RoPE on the new q and k rows, then k and v rows into the cache at pos. */
static void run_rope_append(const mot_plan_op *op, char *arena, const mot_lane_step *ls) {
    mot_cpu_rope_append(F(op->out[0]), F(op->out[1]), F(op->in2), F(op->kv[0]), F(op->kv[1]), op->kv_stride,
                        op->kv_head_stride, ls->n_new, op->n_heads, op->n_kv, op->hd, ls->pos, op->vec);
}

static void run_latent_append(const mot_plan_op *op, char *arena, const mot_lane_step *ls) {
    const int d = op->d;
    float *kc = F(op->kv[0]), *vc = F(op->kv[1]);
    const float *k = F(op->in), *v = F(op->in2);
#pragma omp for schedule(static)
    for (int t = 0; t < ls->n_new; t++) {
        memcpy(kc + (int64_t)(ls->rows + t) * d, k + (int64_t)t * d, sizeof(float) * d);
        memcpy(vc + (int64_t)(ls->rows + t) * d, v + (int64_t)t * d, sizeof(float) * d);
    }
}

static void run_cross_attention(const mot_plan_op *op, char *arena) {
    const mot_step_state *s = step_of(arena);
    mot_kv_segment seg[MOT_MAX_LANES];
    for (int m = 0; m < op->n_seg; m++) {
        const mot_lane_step *ls = &s->lane[m];
        seg[m] = (mot_kv_segment){F(op->seg_k[m]), F(op->seg_v[m]), ls->rows + ls->n_new, ls->n_prompt};
    }
    mot_cpu_cross_attention(F(op->out[0]), F(op->in), s->lane[0].n_new, op->n_heads, op->d, seg, op->n_seg,
                            s->prefill);
}

static int is_eos(const mot_plan_op *op, int lane, int token) {
    for (int e = 0; e < MOT_MAX_EOS && op->eos[lane][e] >= 0; e++) {
        if (op->eos[lane][e] == token) {
            return 1;
        }
    }
    return 0;
}

static void step_advance(const mot_plan_op *op, mot_step_state *s) {
    for (int i = 0; i < s->n_lanes; i++) {
        mot_lane_step *ls = &s->lane[i];
        if (ls->n_new > 0) {
            ls->pos += ls->n_new;
            ls->rows += ls->n_new;
            if (i > 0 && !op->ignore_eos && is_eos(op, i, ls->token)) {
                ls->alive = 0;
            }
        }
        ls->n_new = ls->alive ? 1 : 0;
    }
    s->prefill = 0;
    s->step++;
}

void mot_cpu_run_op(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    mot_step_state *s = step_of(arena);
    if (op->kind == MOT_OP_STEP_ADVANCE) {
        /* Before any read of the step state: the single thread rewrites it while the team's
         * others may still be here (a single has no barrier on entry). ThreadSanitizer. */
#pragma omp single
        step_advance(op, s);
        return;
    }
    const mot_lane_step *ls = &s->lane[op->lane];
    const int n = ls->n_new;
    switch (op->kind) {
    case MOT_OP_EMBED: {
        const int32_t *tokens = (const int32_t *)(arena + op->in.off);
        float *x = F(op->out[0]);
#pragma omp for schedule(static)
        for (int t = 0; t < n; t++) {
            mot_cpu_embed_row(x + (int64_t)t * op->d, op->w[0], tokens[t]);
        }
        break;
    }
    case MOT_OP_RMSNORM:
        mot_cpu_rmsnorm(F(op->out[0]), F(op->in), op->vec, n, op->d, op->eps);
        break;
    case MOT_OP_RMSNORM_LAST:
        mot_cpu_rmsnorm(F(op->out[0]), F(op->in) + (int64_t)(n - 1) * op->d, op->vec, 1, op->d, op->eps);
        break;
    case MOT_OP_MATMUL:
        run_matmul(op, arena, n);
        break;
    case MOT_OP_ROPE_APPEND:
        run_rope_append(op, arena, ls);
        break;
    case MOT_OP_ATTENTION:
        mot_cpu_attention(F(op->out[0]), F(op->in), F(op->kv[0]), F(op->kv[1]), op->kv_stride, op->kv_head_stride,
                          n, ls->pos, op->n_heads, op->n_kv, op->hd, op->window, op->scale);
        break;
    case MOT_OP_SWIGLU:
        mot_cpu_swiglu(F(op->out[0]), F(op->out[0]), F(op->in), n, op->d);
        break;
    case MOT_OP_LAYERNORM:
        mot_cpu_layernorm(F(op->out[0]), F(op->in), op->vec, op->vec2, n, op->d, op->eps);
        break;
    case MOT_OP_LATENT_APPEND:
        run_latent_append(op, arena, ls);
        break;
    case MOT_OP_CROSS_ATTENTION:
        run_cross_attention(op, arena);
        break;
    case MOT_OP_SAMPLE:
#pragma omp single
        {
            mot_lane_step *w = &s->lane[op->lane];
            w->token = mot_sample(&samplers[op->lane], F(op->in));
            w->n_sampled++;
            w->rng = samplers[op->lane].rng; /* the stream, as the device keeps it */
            ((int32_t *)(arena + op->out[0].off))[0] = w->token;
        }
        break;
    default:
        break;
    }
}

/* ---- fusion ------------------------------------------------------------------------------ */

static int same_buf(mot_buf a, mot_buf b) { return a.off == b.off && a.bytes > 0 && b.bytes > 0; }

/* prog[i + k]'s op when it is a RUN of lane's, else NULL */
static const mot_plan_op *run_of_lane(const mot_plan *p, int i, int lane) {
    if (i >= p->n_instrs || p->prog[i].kind != MOT_INSTR_RUN || p->prog[i].lane != lane) {
        return NULL;
    }
    return &p->ops[p->prog[i].arg];
}

/* a: an RMSNORM (all rows, or the last) whose output b, a plain MATMUL over the same rows, reads */
static int norm_feeds(const mot_plan_op *a, const mot_plan_op *b) {
    const int rows_match = (a->kind == MOT_OP_RMSNORM && !b->single_row) ||
                           (a->kind == MOT_OP_RMSNORM_LAST && b->single_row);
    return rows_match && b->kind == MOT_OP_MATMUL && !b->accumulate && same_buf(a->out[0], b->in) &&
           a->d == b->w[0]->cols && a->out[0].off != a->in.off;
}

/* c: the SWIGLU on b's two outputs (gate = out[0], up = out[1]) */
static int swiglu_after(const mot_plan_op *b, const mot_plan_op *c) {
    return c && c->kind == MOT_OP_SWIGLU && b->kind == MOT_OP_MATMUL && b->n_w == 2 && !b->accumulate &&
           same_buf(c->out[0], b->out[0]) && same_buf(c->in, b->out[1]) && c->d == b->w[0]->rows;
}

/* The fused GEMV of span ops from prog[i]: its jobs, rows, fusion and x; returns the number
 * of jobs, or 0 if it cannot run. */
static int fused_gemv(const mot_plan *p, int i, int span, char *arena, mot_matmul_job *jobs, int *rows,
                      mot_gemv_fusion *f, const float **x) {
    const mot_plan_op *a = &p->ops[p->prog[i].arg];
    const int n = step_of(arena)->lane[a->lane].n_new;
    const int has_norm = a->kind != MOT_OP_MATMUL;
    const mot_plan_op *mm = has_norm ? &p->ops[p->prog[i + 1].arg] : a;
    *rows = mm->single_row ? 1 : n;
    for (int j = 0; j < mm->n_w; j++) {
        jobs[j] = (mot_matmul_job){F(mm->out[j]), mm->w[j], mm->bias[j], mm->accumulate};
    }
    *f = (mot_gemv_fusion){0};
    *x = F(mm->in);
    if (has_norm) {
        f->norm_w = a->vec, f->norm_eps = a->eps, f->norm_out = F(a->out[0]);
        *x = a->kind == MOT_OP_RMSNORM_LAST ? F(a->in) + (int64_t)(n - 1) * a->d : F(a->in);
    }
    f->swiglu = span == (has_norm ? 3 : 2);
    return n > 0 && mot_cpu_gemv_can_fuse(jobs, mm->n_w, *rows, f) ? mm->n_w : 0;
}

static int can_run_fused(const mot_plan *p, int i, int span, const char *arena) {
    mot_matmul_job jobs[MOT_OP_MAX_W];
    mot_gemv_fusion f;
    const float *x;
    int rows;
    return fused_gemv(p, i, span, (char *)arena, jobs, &rows, &f, &x);
}

int mot_cpu_fusion_span(const mot_plan *p, int i, const char *arena) {
    const mot_plan_op *a = &p->ops[p->prog[i].arg];
    const mot_plan_op *b = run_of_lane(p, i + 1, a->lane);
    if (!b) {
        return 1;
    }
    if ((a->kind == MOT_OP_RMSNORM || a->kind == MOT_OP_RMSNORM_LAST) && norm_feeds(a, b)) {
        if (swiglu_after(b, run_of_lane(p, i + 2, a->lane)) && can_run_fused(p, i, 3, arena)) {
            return 3;
        }
        return can_run_fused(p, i, 2, arena) ? 2 : 1;
    }
    return swiglu_after(a, b) && can_run_fused(p, i, 2, arena) ? 2 : 1;
}

void mot_cpu_run_span(const mot_plan *p, int i, int span, char *arena, mot_sampler *samplers) {
    if (span == 1) {
        mot_cpu_run_op(&p->ops[p->prog[i].arg], arena, samplers);
        return;
    }
    mot_matmul_job jobs[MOT_OP_MAX_W];
    mot_gemv_fusion f;
    const float *x;
    int rows;
    const int n_jobs = fused_gemv(p, i, span, arena, jobs, &rows, &f, &x);
    mot_cpu_matmul_gemv_fused(jobs, n_jobs, x, rows, &f);
}
