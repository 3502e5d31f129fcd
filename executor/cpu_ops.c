/* Plan ops on the CPU. Called by every thread of the team with the same op; the kernels split
 * their work over the team and end on a barrier, and the few lines of host logic (sampling,
 * the step advance) run on one thread inside `omp single` (which ends on a barrier too). */
#include "executor/cpu_ops.h"

#include <string.h>

#include "kernels/cpu/backward.h"
#include "kernels/cpu/kernels.h"
#include "ops/ops.h"

#define F(b) ((float *)(arena + (b).off))
#define F_OR_NULL(b) ((b).bytes ? F(b) : NULL) /* an optional buffer (bytes 0: absent) */

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

/* One function per op kind, cpu_run_<name> (the op table, ops/op_table.h): the op's
 * parameters (op-><name>) and the lane's step values into its CPU kernel. */

static const mot_lane_step *lane_of(const mot_plan_op *op, char *arena) { return &step_of(arena)->lane[op->lane]; }

static void cpu_run_embed(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_embed *e = &op->embed;
    const int n = lane_of(op, arena)->n_new;
    const int32_t *tokens = (const int32_t *)(arena + e->tokens.off);
    float *x = F(e->out);
#pragma omp for schedule(static)
    for (int t = 0; t < n; t++) {
        mot_cpu_embed_row(x + (int64_t)t * e->d, op->w[0], tokens[t]);
    }
}

static void cpu_run_rmsnorm(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_rmsnorm *r = &op->rmsnorm;
    mot_cpu_rmsnorm(F(r->out), F(r->x), r->weight, lane_of(op, arena)->n_new, r->d, r->eps);
}

static void cpu_run_rmsnorm_last(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_rmsnorm *r = &op->rmsnorm;
    const int n = lane_of(op, arena)->n_new;
    mot_cpu_rmsnorm(F(r->out), F(r->x) + (int64_t)(n - 1) * r->d, r->weight, 1, r->d, r->eps);
}

static void cpu_run_matmul(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_matmul *m = &op->matmul;
    const int rows = m->single_row ? 1 : lane_of(op, arena)->n_new;
    mot_matmul_job jobs[MOT_OP_MAX_W];
    for (int j = 0; j < op->n_w; j++) {
        jobs[j] = (mot_matmul_job){F(m->y[j]), op->w[j], op->bias[j], m->accumulate};
    }
    if (mot_cpu_matmul_is_gemv(jobs, op->n_w, rows)) {
        /* decode: biases and the residual add in the GEMV, no passes (barriers) after it */
        mot_cpu_matmul_multi(jobs, op->n_w, F(m->x), rows);
        return;
    }
    if (m->accumulate) {
        float *y = F(m->scratch);
        mot_cpu_matmul(y, F(m->x), op->w[0], rows);
        add_bias(y, op->bias[0], rows, op->w[0]->rows);
        add_into(F(m->y[0]), y, (int64_t)rows * op->w[0]->rows);
        return;
    }
    for (int j = 0; j < op->n_w; j++) {
        jobs[j].bias = NULL, jobs[j].accumulate = 0;
    }
    mot_cpu_matmul_multi(jobs, op->n_w, F(m->x), rows);
    for (int j = 0; j < op->n_w; j++) {
        add_bias(F(m->y[j]), op->bias[j], rows, op->w[j]->rows);
    }
}

/* RMSNORM(_LAST) -> MATMUL (-> SWIGLU) fused by the plan (scheduler/plan_fuse.c): the decode
 * GEMV with the norm and SwiGLU folded in, exactly as the executor fuses the separate ops at
 * run time (mot_cpu_fusion_span below: the same jobs, x and fusion, so the same bits); where
 * that GEMV cannot take it (the GEMM's row counts, a norm too wide for the stack copy), the
 * parts one after another, as the unfused plan runs them. */
static void cpu_run_fused(const mot_plan_op *op, char *arena, mot_sampler *samplers, int swiglu, int rope) {
    const mot_op_rmsnorm_matmul *fm = &op->rmsnorm_matmul;
    const int n = lane_of(op, arena)->n_new;
    const int rows = fm->matmul.single_row ? 1 : n;
    mot_matmul_job jobs[MOT_OP_MAX_W];
    for (int j = 0; j < op->n_w; j++) {
        jobs[j] = (mot_matmul_job){F(fm->matmul.y[j]), op->w[j], op->bias[j], 0};
    }
    /* norm + matmul + swiglu, else norm + matmul and the swiglu after it, as the run-time
     * fusion would have split them */
    for (int sw = swiglu; sw >= 0 && n > 0; sw--) {
        const mot_gemv_fusion f = {fm->norm.weight, fm->norm.eps, F(fm->norm.out), sw};
        if (mot_cpu_gemv_can_fuse(jobs, op->n_w, rows, &f)) {
            const float *x = fm->matmul.single_row ? F(fm->norm.x) + (int64_t)(n - 1) * fm->norm.d : F(fm->norm.x);
            mot_cpu_matmul_gemv_fused(jobs, op->n_w, x, rows, &f);
            if ((swiglu && !sw) || rope) { /* the rotation and the KV append: as the next op */
                const mot_plan_op one = mot_plan_op_part(op, 2);
                mot_cpu_run_op(&one, arena, samplers);
            }
            return;
        }
    }
    for (int part = 0; part < 2 + (swiglu || rope); part++) {
        const mot_plan_op one = mot_plan_op_part(op, part);
        mot_cpu_run_op(&one, arena, samplers);
    }
}

static void cpu_run_rmsnorm_matmul(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    cpu_run_fused(op, arena, samplers, 0, 0);
}

static void cpu_run_rmsnorm_matmul_swiglu(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    cpu_run_fused(op, arena, samplers, 1, 0);
}

/* ...and RoPE with the KV append after the q/k/v GEMV (the CPU runs it as its own pass). */
static void cpu_run_rmsnorm_matmul_rope_append(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    cpu_run_fused(op, arena, samplers, 0, 1);
}

/* RoPE on the new q and k rows, then k and v rows into the cache at pos. */
static void cpu_run_rope_append(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_rope_append *r = &op->rope_append;
    const mot_lane_step *ls = lane_of(op, arena);
    mot_cpu_rope_append(F(r->q), F(r->k), F(r->v), F(r->kv.k_cache), F(r->kv.v_cache), r->kv.kv_stride,
                        r->kv.kv_head_stride, ls->n_new, r->kv.n_heads, r->kv.n_kv, r->kv.hd, ls->pos, r->inv_freq);
}

static void cpu_run_attention(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_attention *a = &op->attention;
    const mot_lane_step *ls = lane_of(op, arena);
    mot_cpu_attention(F(a->out), F(a->q), F(a->kv.k_cache), F(a->kv.v_cache), a->kv.kv_stride, a->kv.kv_head_stride,
                      ls->n_new, ls->pos, a->kv.n_heads, a->kv.n_kv, a->kv.hd, a->window, a->scale);
}

static void cpu_run_swiglu(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_swiglu *g = &op->swiglu;
    mot_cpu_swiglu(F(g->gate), F(g->gate), F(g->up), lane_of(op, arena)->n_new, g->f);
}

static void cpu_run_layernorm(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_layernorm *l = &op->layernorm;
    mot_cpu_layernorm(F(l->out), F(l->x), l->weight, l->bias, lane_of(op, arena)->n_new, l->d, l->eps);
}

static void cpu_run_latent_append(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_latent_append *a = &op->latent_append;
    const mot_lane_step *ls = lane_of(op, arena);
    mot_cpu_latent_append(F(a->k_cache), F(a->v_cache), F(a->k), F(a->v), ls->n_new, a->d, ls->rows);
}

static void cpu_run_cross_attention(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_cross_attention *x = &op->cross_attention;
    const mot_step_state *s = step_of(arena);
    mot_kv_segment seg[MOT_MAX_LANES];
    for (int m = 0; m < x->n_seg; m++) {
        const mot_lane_step *ls = &s->lane[x->seg_lane[m]];
        seg[m] = (mot_kv_segment){F(x->seg_k[m]), F(x->seg_v[m]), ls->rows + ls->n_new, ls->n_prompt};
    }
    /* the queries: the op's lane's (the primary's, or the lane at the attention's query rank) */
    mot_cpu_cross_attention(F(x->out), F(x->q), s->lane[op->lane].n_new, x->heads, x->d, seg, x->n_seg, s->prefill);
}

static void cpu_run_sample(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
#pragma omp single
    {
        mot_lane_step *w = &step_of(arena)->lane[op->lane];
        w->token = mot_sample(&samplers[op->lane], F(op->sample.logits));
        w->n_sampled++;
        w->rng = samplers[op->lane].rng; /* the stream, as the device keeps it */
        ((int32_t *)(arena + op->sample.tokens.off))[0] = w->token;
    }
}

/* The reference is the kernel: a few scalar updates on one thread. The single thread
 * rewrites the step state while the team's others may still be in here (a single has no
 * barrier on entry): so nothing reads the step state before it (ThreadSanitizer). */
static void cpu_run_step_advance(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_step_advance *a = &op->step_advance;
#pragma omp single
    mot_ref_step_advance(step_of(arena), a->eos, a->ignore_eos);
}

/* The training ops: static shapes (no step state), the kernels of kernels/cpu/backward.h. */

static void cpu_run_matmul_backward_x(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_matmul_backward_x *m = &op->matmul_backward_x;
    mot_cpu_matmul_backward_x(F(m->dx), F(m->dy), op->w[0], m->n, m->accumulate);
}

static void cpu_run_matmul_backward_w(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_matmul_backward_w *m = &op->matmul_backward_w;
    mot_cpu_matmul_backward_w(F(m->dw), F_OR_NULL(m->db), F(m->dy), F(m->x), m->n, m->rows, m->cols);
}

static void cpu_run_rmsnorm_backward(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_rmsnorm_backward *r = &op->rmsnorm_backward;
    mot_cpu_rmsnorm_backward(F(r->dx), F(r->dy), F(r->x), r->weight, r->n, r->d, r->eps, r->accumulate);
}

static void cpu_run_layernorm_backward(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_layernorm_backward *l = &op->layernorm_backward;
    mot_cpu_layernorm_backward(F(l->dx), F_OR_NULL(l->dw), F_OR_NULL(l->db), F(l->dy),
                               F(l->x), l->weight, l->n, l->d, l->eps);
}

static void cpu_run_swiglu_backward(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_swiglu_backward *g = &op->swiglu_backward;
    mot_cpu_swiglu_backward(F(g->dgate), F(g->dup), F(g->dout), F(g->gate), F(g->up), g->n, g->f);
}

static void cpu_run_rope_backward(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_rope_backward *r = &op->rope_backward;
    mot_cpu_rope_backward(F_OR_NULL(r->dq), F_OR_NULL(r->dk), r->n, r->n_heads, r->n_kv,
                          r->hd, r->pos0, r->inv_freq);
}

static void cpu_run_attention_backward(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_attention_backward *a = &op->attention_backward;
    mot_cpu_attention_backward(F(a->dq), F(a->dk), F(a->dv), F(a->dout), F(a->q), F(a->k), F(a->v), a->n, a->n_heads,
                               a->n_kv, a->hd, a->window, a->scale);
}

static void cpu_run_cross_attention_backward(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_cross_attention_backward *x = &op->cross_attention_backward;
    mot_kv_segment seg[MOT_MAX_LANES];
    mot_kv_segment_grad dseg[MOT_MAX_LANES];
    for (int m = 0; m < x->n_seg; m++) {
        seg[m] = (mot_kv_segment){F(x->seg_k[m]), F(x->seg_v[m]), x->seg_rows[m], x->seg_prompt[m]};
        dseg[m] = (mot_kv_segment_grad){F(x->seg_dk[m]), F(x->seg_dv[m])};
    }
    mot_cpu_cross_attention_backward(F(x->dq), dseg, F(x->dout), F(x->q), x->n_q, x->heads, x->d, seg, x->n_seg);
}

static void cpu_run_copy(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    mot_cpu_copy(arena + op->copy.dst.off, arena + op->copy.src.off, op->copy.src.bytes);
}

static void cpu_run_add(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    mot_cpu_add(F(op->add.y), F(op->add.x), op->add.count);
}

static void cpu_run_dropout(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_dropout *d = &op->dropout;
    mot_cpu_dropout(F(d->out), F(d->x), d->count, d->p, d->seed);
}

static void cpu_run_cross_entropy(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    const mot_op_cross_entropy *c = &op->cross_entropy;
    const double loss = mot_cpu_cross_entropy(F_OR_NULL(c->dlogits), F(c->logits),
                                              (const int32_t *)(arena + c->targets.off), c->n, c->vocab, c->scale);
#pragma omp single
    memcpy(arena + c->loss.off, &loss, sizeof loss); /* every thread has the same sum */
}

typedef void (*cpu_run_fn)(const mot_plan_op *op, char *arena, mot_sampler *samplers);

/* Indexed by kind, generated from the op table: a kind without its cpu_run_<name> does not
 * compile. */
static const cpu_run_fn cpu_run[MOT_OP_KIND_COUNT] = {
#define CPU_RUN_(KIND, name, reads, ref, cpu, cuda, doc) [MOT_OP_##KIND] = cpu_run_##name,
    MOT_OP_TABLE(CPU_RUN_)
#undef CPU_RUN_
};

void mot_cpu_run_op(const mot_plan_op *op, char *arena, mot_sampler *samplers) {
    if ((unsigned)op->kind < MOT_OP_KIND_COUNT) {
        cpu_run[op->kind](op, arena, samplers);
    }
}

/* ---- fusion ------------------------------------------------------------------------------ */

/* prog[i + k]'s op when it is a RUN of lane's, else NULL */
static const mot_plan_op *run_of_lane(const mot_plan *p, int i, int lane) {
    if (i >= p->n_instrs || p->prog[i].kind != MOT_INSTR_RUN || p->prog[i].lane != lane) {
        return NULL;
    }
    return &p->ops[p->prog[i].arg];
}

/* The fused GEMV of span ops from prog[i]: its jobs, rows, fusion and x; returns the number
 * of jobs, or 0 if it cannot run. */
static int fused_gemv(const mot_plan *p, int i, int span, char *arena, mot_matmul_job *jobs, int *rows,
                      mot_gemv_fusion *f, const float **x) {
    const mot_plan_op *a = &p->ops[p->prog[i].arg];
    const int n = step_of(arena)->lane[a->lane].n_new;
    const int has_norm = a->kind != MOT_OP_MATMUL;
    const mot_plan_op *mm = has_norm ? &p->ops[p->prog[i + 1].arg] : a;
    *rows = mm->matmul.single_row ? 1 : n;
    for (int j = 0; j < mm->n_w; j++) {
        jobs[j] = (mot_matmul_job){F(mm->matmul.y[j]), mm->w[j], mm->bias[j], mm->matmul.accumulate};
    }
    *f = (mot_gemv_fusion){0};
    *x = F(mm->matmul.x);
    if (has_norm) {
        const mot_op_rmsnorm *r = &a->rmsnorm;
        f->norm_w = r->weight, f->norm_eps = r->eps, f->norm_out = F(r->out);
        *x = a->kind == MOT_OP_RMSNORM_LAST ? F(r->x) + (int64_t)(n - 1) * r->d : F(r->x);
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
    if ((a->kind == MOT_OP_RMSNORM || a->kind == MOT_OP_RMSNORM_LAST) && mot_plan_op_norm_feeds(a, b)) {
        if (mot_plan_op_swiglu_after(b, run_of_lane(p, i + 2, a->lane)) && can_run_fused(p, i, 3, arena)) {
            return 3;
        }
        return can_run_fused(p, i, 2, arena) ? 2 : 1;
    }
    return mot_plan_op_swiglu_after(a, b) && can_run_fused(p, i, 2, arena) ? 2 : 1;
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
