/* Plan bookkeeping: names, the memory each op touches, a text listing. */
#include "scheduler/plan.h"

#include <stdio.h>
#include <stdlib.h>

void mot_plan_free(mot_plan *p) {
    if (p) {
        free(p->ops);
        free(p->prog);
        free(p);
    }
}

const char *mot_phase_name(mot_phase p) {
    static const char *const names[MOT_PHASE_COUNT] = {"prefill", "decode", "prefill_chunk"};
    return (unsigned)p < MOT_PHASE_COUNT ? names[p] : "?";
}

/* The step state in the pieces ops touch: a lane's geometry (pos, n_new, rows, n_prompt,
 * alive: read by the pass, moved by the step advance), its sampling fields (token, n_sampled,
 * rng: written by its SAMPLE), and the header (prefill, step). */
static mot_buf lane_geometry(int lane) {
    return (mot_buf){offsetof(mot_step_state, lane) + (size_t)lane * sizeof(mot_lane_step),
                     offsetof(mot_lane_step, token)};
}

static mot_buf lane_sampling(int lane) {
    return (mot_buf){offsetof(mot_step_state, lane) + (size_t)lane * sizeof(mot_lane_step) +
                         offsetof(mot_lane_step, token),
                     sizeof(mot_lane_step) - offsetof(mot_lane_step, token)};
}

static const mot_buf step_header = {0, offsetof(mot_step_state, lane)};

static int push(mot_buf *out, int n, int cap, mot_buf b) {
    if (b.bytes && n < cap) {
        out[n++] = b;
    }
    return n;
}

int mot_plan_op_writes(const mot_plan_op *op, mot_buf *out, int cap) {
    int n = 0;
    switch (op->kind) {
    case MOT_OP_EMBED:
        return push(out, n, cap, op->embed.out);
    case MOT_OP_RMSNORM:
    case MOT_OP_RMSNORM_LAST:
        return push(out, n, cap, op->rmsnorm.out);
    case MOT_OP_MATMUL:
        for (int j = 0; j < MOT_OP_MAX_W; j++) {
            n = push(out, n, cap, op->matmul.y[j]);
        }
        return push(out, n, cap, op->matmul.scratch);
    case MOT_OP_RMSNORM_MATMUL:
    case MOT_OP_RMSNORM_MATMUL_SWIGLU: /* the norm's output, then the matmul's (gate in place) */
        n = push(out, n, cap, op->rmsnorm_matmul.norm.out);
        for (int j = 0; j < MOT_OP_MAX_W; j++) {
            n = push(out, n, cap, op->rmsnorm_matmul.matmul.y[j]);
        }
        return n;
    case MOT_OP_RMSNORM_MATMUL_ROPE_APPEND: /* the norm's output, q, k, v, then the caches */
        n = push(out, n, cap, op->rmsnorm_matmul.norm.out);
        for (int j = 0; j < MOT_OP_MAX_W; j++) {
            n = push(out, n, cap, op->rmsnorm_matmul.matmul.y[j]);
        }
        n = push(out, n, cap, op->rmsnorm_matmul.rope.kv.k_cache);
        return push(out, n, cap, op->rmsnorm_matmul.rope.kv.v_cache);
    case MOT_OP_ROPE_APPEND:
        n = push(out, n, cap, op->rope_append.q);
        n = push(out, n, cap, op->rope_append.k);
        n = push(out, n, cap, op->rope_append.kv.k_cache);
        return push(out, n, cap, op->rope_append.kv.v_cache);
    case MOT_OP_ATTENTION:
        return push(out, n, cap, op->attention.out);
    case MOT_OP_SWIGLU:
        return push(out, n, cap, op->swiglu.gate);
    case MOT_OP_LAYERNORM:
        return push(out, n, cap, op->layernorm.out);
    case MOT_OP_LATENT_APPEND:
        n = push(out, n, cap, op->latent_append.k_cache);
        return push(out, n, cap, op->latent_append.v_cache);
    case MOT_OP_CROSS_ATTENTION:
        return push(out, n, cap, op->cross_attention.out);
    case MOT_OP_SAMPLE:
        n = push(out, n, cap, op->sample.tokens);
        return push(out, n, cap, lane_sampling(op->lane));
    case MOT_OP_STEP_ADVANCE:
        return push(out, n, cap, (mot_buf){0, sizeof(mot_step_state)});
    case MOT_OP_MATMUL_BACKWARD_X:
        return push(out, n, cap, op->matmul_backward_x.dx);
    case MOT_OP_MATMUL_BACKWARD_W:
        n = push(out, n, cap, op->matmul_backward_w.dw);
        return push(out, n, cap, op->matmul_backward_w.db);
    case MOT_OP_RMSNORM_BACKWARD:
        return push(out, n, cap, op->rmsnorm_backward.dx);
    case MOT_OP_LAYERNORM_BACKWARD:
        n = push(out, n, cap, op->layernorm_backward.dx);
        n = push(out, n, cap, op->layernorm_backward.dw);
        return push(out, n, cap, op->layernorm_backward.db);
    case MOT_OP_SWIGLU_BACKWARD:
        n = push(out, n, cap, op->swiglu_backward.dgate);
        return push(out, n, cap, op->swiglu_backward.dup);
    case MOT_OP_ROPE_BACKWARD:
        n = push(out, n, cap, op->rope_backward.dq);
        return push(out, n, cap, op->rope_backward.dk);
    case MOT_OP_ATTENTION_BACKWARD:
        n = push(out, n, cap, op->attention_backward.dq);
        n = push(out, n, cap, op->attention_backward.dk);
        return push(out, n, cap, op->attention_backward.dv);
    case MOT_OP_CROSS_ATTENTION_BACKWARD:
        n = push(out, n, cap, op->cross_attention_backward.dq);
        for (int m = 0; m < op->cross_attention_backward.n_seg; m++) {
            n = push(out, n, cap, op->cross_attention_backward.seg_dk[m]);
            n = push(out, n, cap, op->cross_attention_backward.seg_dv[m]);
        }
        return n;
    case MOT_OP_COPY:
        return push(out, n, cap, op->copy.dst);
    case MOT_OP_ADD:
        return push(out, n, cap, op->add.y);
    case MOT_OP_DROPOUT:
        return push(out, n, cap, op->dropout.out);
    case MOT_OP_CROSS_ENTROPY:
        n = push(out, n, cap, op->cross_entropy.dlogits);
        return push(out, n, cap, op->cross_entropy.loss);
    case MOT_OP_KIND_COUNT:
        break;
    }
    return n;
}

/* The arena buffers the op reads (the step state aside). */
static int reads_buffers(const mot_plan_op *op, mot_buf *out, int n, int cap) {
    switch (op->kind) {
    case MOT_OP_EMBED:
        return push(out, n, cap, op->embed.tokens);
    case MOT_OP_RMSNORM:
    case MOT_OP_RMSNORM_LAST:
        return push(out, n, cap, op->rmsnorm.x);
    case MOT_OP_MATMUL:
        n = push(out, n, cap, op->matmul.x);
        return op->matmul.accumulate ? push(out, n, cap, op->matmul.y[0]) : n; /* read-modify-write */
    case MOT_OP_RMSNORM_MATMUL:
    case MOT_OP_RMSNORM_MATMUL_SWIGLU: /* the matmul reads only what the norm wrote */
    case MOT_OP_RMSNORM_MATMUL_ROPE_APPEND:
        return push(out, n, cap, op->rmsnorm_matmul.norm.x);
    case MOT_OP_ROPE_APPEND: /* q and k: read-modify-write */
        n = push(out, n, cap, op->rope_append.q);
        n = push(out, n, cap, op->rope_append.k);
        return push(out, n, cap, op->rope_append.v);
    case MOT_OP_ATTENTION:
        n = push(out, n, cap, op->attention.q);
        n = push(out, n, cap, op->attention.kv.k_cache);
        return push(out, n, cap, op->attention.kv.v_cache);
    case MOT_OP_SWIGLU:
        n = push(out, n, cap, op->swiglu.gate); /* read-modify-write */
        return push(out, n, cap, op->swiglu.up);
    case MOT_OP_LAYERNORM:
        return push(out, n, cap, op->layernorm.x);
    case MOT_OP_LATENT_APPEND:
        n = push(out, n, cap, op->latent_append.k);
        return push(out, n, cap, op->latent_append.v);
    case MOT_OP_CROSS_ATTENTION:
        n = push(out, n, cap, op->cross_attention.q);
        for (int m = 0; m < op->cross_attention.n_seg; m++) {
            n = push(out, n, cap, op->cross_attention.seg_k[m]);
            n = push(out, n, cap, op->cross_attention.seg_v[m]);
        }
        return n;
    case MOT_OP_SAMPLE:
        return push(out, n, cap, op->sample.logits);
    case MOT_OP_MATMUL_BACKWARD_X: {
        const mot_op_matmul_backward_x *m = &op->matmul_backward_x;
        n = push(out, n, cap, m->dy);
        return m->accumulate ? push(out, n, cap, m->dx) : n;
    }
    case MOT_OP_MATMUL_BACKWARD_W: /* dw, db: read-modify-write */
        n = push(out, n, cap, op->matmul_backward_w.dy);
        n = push(out, n, cap, op->matmul_backward_w.x);
        n = push(out, n, cap, op->matmul_backward_w.dw);
        return push(out, n, cap, op->matmul_backward_w.db);
    case MOT_OP_RMSNORM_BACKWARD: {
        const mot_op_rmsnorm_backward *r = &op->rmsnorm_backward;
        n = push(out, n, cap, r->dy);
        n = push(out, n, cap, r->x);
        return r->accumulate ? push(out, n, cap, r->dx) : n;
    }
    case MOT_OP_LAYERNORM_BACKWARD:
        n = push(out, n, cap, op->layernorm_backward.dy);
        n = push(out, n, cap, op->layernorm_backward.x);
        n = push(out, n, cap, op->layernorm_backward.dw);
        return push(out, n, cap, op->layernorm_backward.db);
    case MOT_OP_SWIGLU_BACKWARD:
        n = push(out, n, cap, op->swiglu_backward.dout);
        n = push(out, n, cap, op->swiglu_backward.gate);
        return push(out, n, cap, op->swiglu_backward.up);
    case MOT_OP_ROPE_BACKWARD: /* in place */
        n = push(out, n, cap, op->rope_backward.dq);
        return push(out, n, cap, op->rope_backward.dk);
    case MOT_OP_ATTENTION_BACKWARD:
        n = push(out, n, cap, op->attention_backward.dout);
        n = push(out, n, cap, op->attention_backward.q);
        n = push(out, n, cap, op->attention_backward.k);
        return push(out, n, cap, op->attention_backward.v);
    case MOT_OP_CROSS_ATTENTION_BACKWARD:
        n = push(out, n, cap, op->cross_attention_backward.dout);
        n = push(out, n, cap, op->cross_attention_backward.q);
        for (int m = 0; m < op->cross_attention_backward.n_seg; m++) {
            n = push(out, n, cap, op->cross_attention_backward.seg_k[m]);
            n = push(out, n, cap, op->cross_attention_backward.seg_v[m]);
        }
        return n;
    case MOT_OP_COPY:
        return push(out, n, cap, op->copy.src);
    case MOT_OP_ADD: /* y: read-modify-write */
        n = push(out, n, cap, op->add.x);
        return push(out, n, cap, op->add.y);
    case MOT_OP_DROPOUT:
        return push(out, n, cap, op->dropout.x);
    case MOT_OP_CROSS_ENTROPY:
        n = push(out, n, cap, op->cross_entropy.logits);
        return push(out, n, cap, op->cross_entropy.targets);
    case MOT_OP_STEP_ADVANCE:
    case MOT_OP_KIND_COUNT:
        break;
    }
    return n;
}

int mot_plan_op_reads(const mot_plan_op *op, mot_buf *out, int cap) {
    int n = reads_buffers(op, out, 0, cap);
    if (op->kind == MOT_OP_STEP_ADVANCE) {
        n = push(out, n, cap, step_header);
        for (int m = 0; m < op->step_advance.n_lanes; m++) {
            n = push(out, n, cap, lane_geometry(m));
            n = push(out, n, cap, lane_sampling(m));
        }
    } else if (op->kind == MOT_OP_CROSS_ATTENTION) {
        /* the query lane's geometry (its queries: the primary's, or that of the lane at the
         * attention's query rank), and each speaking lane's (its keys) */
        n = push(out, n, cap, step_header);
        n = push(out, n, cap, lane_geometry(op->lane));
        for (int m = 0; m < op->cross_attention.n_seg; m++) {
            if (op->cross_attention.seg_lane[m] != op->lane) {
                n = push(out, n, cap, lane_geometry(op->cross_attention.seg_lane[m]));
            }
        }
    } else if (op->reads) {
        n = push(out, n, cap, lane_geometry(op->lane));
        if (op->reads & MOT_READS_RNG) {
            n = push(out, n, cap, lane_sampling(op->lane));
        }
    }
    return n;
}

void mot_plan_print(const mot_plan *p, void *file) {
    FILE *f = file;
    fprintf(f, "plan: %s, %d lanes (experts", mot_phase_name(p->key.phase), p->key.n_lanes);
    for (int i = 0; i < p->key.n_lanes; i++) {
        fprintf(f, " %d", p->key.experts[i]);
    }
    fprintf(f, "), %d ops, %d instructions, %d events\n", p->n_ops, p->n_instrs, p->n_events);
    for (int i = 0; i < p->n_instrs; i++) {
        const mot_instr *in = &p->prog[i];
        if (in->kind == MOT_INSTR_RUN) {
            const mot_plan_op *op = &p->ops[in->arg];
            fprintf(f, "  lane %d  run    %-21s %-9s stack %2d layer %3d", in->lane, mot_op_kind_name(op->kind),
                    mot_node_kind_name(op->node), op->stack, op->layer);
            if (op->kind == MOT_OP_CROSS_ATTENTION) { /* the speaking lanes: whose latents are the keys */
                fputs(" keys from lanes", f);
                for (int m = 0; m < op->cross_attention.n_seg; m++) fprintf(f, " %d", op->cross_attention.seg_lane[m]);
                if (!op->cross_attention.n_seg) fputs(" (none)", f);
            }
            fputc('\n', f);
        } else {
            fprintf(f, "  lane %d  %-6s event %d\n", in->lane, in->kind == MOT_INSTR_RECORD ? "record" : "wait",
                    in->arg);
        }
    }
}
