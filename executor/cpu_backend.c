/* The CPU executor: a plan's program run inside one OpenMP parallel region per pass.
 *
 * Lanes one after another (default): every thread walks the whole program; RUN ops split
 * their work over the team and end on a barrier; RECORD/WAIT need nothing (program order is
 * a valid order).
 * Lanes side by side (concurrent_lanes): the threads form G = min(lanes, threads) groups, one
 * nested team each (one inner region per group per pass); lane i belongs to group i % G, and
 * each group walks the program doing only its lanes' instructions. RECORD sets a flag after
 * the group's barrier; WAIT spins on it, then the group meets at a barrier. Since program
 * order is valid from one thread, groups walking their sub-sequences in that order cannot
 * deadlock. Results are bitwise those of the serial mode with the same team per kernel. */
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "executor/backend.h"
#include "executor/cpu_ops.h"
#include "profiling/trace.h"

typedef struct {
    mot_backend base;
    mot_backend_options opt;
    char *arena;
    void *arena_alloc;
    size_t bytes;
    mot_sampler *samplers;
    int *events; /* [n_events]: the pass number that recorded it */
    int n_events_cap;
    int pass;
    int fed[MOT_MAX_LANES]; /* lanes fed by this pass: read once before the region (the step
                               advance rewrites n_new while the pass runs) */
    int tokens[MOT_MAX_LANES];
    /* profiling: the node slice each lane is in (ops of one node are contiguous in a lane) */
    mot_trace_slice open[MOT_MAX_LANES];
    int is_open[MOT_MAX_LANES];
} cpu_backend;

/* Profiling: op just ran on its lane from t0 to t1; extends the lane's slice or starts one. */
static void trace_op(cpu_backend *c, const mot_plan_op *op, double t0, double t1) {
    mot_trace *t = c->opt.trace;
    mot_trace_slice *s = &c->open[op->lane];
    if (c->is_open[op->lane] && s->node_id == op->node_id) {
        s->dur = t1 - s->ts;
        return;
    }
    if (c->is_open[op->lane]) {
        mot_trace_add(t, s);
    }
    *s = (mot_trace_slice){.name = mot_node_kind_name(op->node), .track = op->lane, .ts = t0, .dur = t1 - t0,
                           .expert = op->expert, .stack = op->stack, .node_id = op->node_id, .reverse = op->reverse,
                           .phase = t->phase, .pass = t->pass, .tokens = c->tokens[op->lane]};
    c->is_open[op->lane] = 1;
}

static void trace_flush(cpu_backend *c) {
    for (int i = 0; i < MOT_MAX_LANES; i++) {
        if (c->is_open[i]) {
            mot_trace_add(c->opt.trace, &c->open[i]);
            c->is_open[i] = 0;
        }
    }
}

static mot_status cpu_open(mot_backend *b, const mot_plan_source *src, const mot_arena_layout *layout,
                           mot_sampler *samplers) {
    cpu_backend *c = (cpu_backend *)b;
    free(c->arena_alloc);
    /* calloc: a large block comes from fresh zero pages, so KV cache rows never written cost
     * no memory; aligned by hand to 64 bytes. */
    c->arena_alloc = calloc(1, layout->bytes + 64);
    if (!c->arena_alloc) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory for the arena (%zu MiB)", layout->bytes >> 20);
    }
    c->arena = (char *)(((uintptr_t)c->arena_alloc + 63) & ~(uintptr_t)63);
    c->bytes = layout->bytes;
    c->samplers = samplers;
    return MOT_OK;
}

static mot_status cpu_write(mot_backend *b, mot_buf dst, const void *src) {
    cpu_backend *c = (cpu_backend *)b;
    memcpy(c->arena + dst.off, src, dst.bytes);
    return MOT_OK;
}

static mot_status cpu_read(mot_backend *b, mot_buf src, void *dst) {
    cpu_backend *c = (cpu_backend *)b;
    memcpy(dst, c->arena + src.off, src.bytes);
    return MOT_OK;
}

/* One RUN (with the ones fused into it, see mot_cpu_fusion_span): every thread of the team
 * calls it; returns how many instructions it ran. Timing: the master measures the op (it
 * ends on the team's barrier, so that is the team's time); fused ops count as the first. */
static int run(cpu_backend *c, const mot_plan *p, int i) {
    const mot_plan_op *op = &p->ops[p->prog[i].arg];
    if (!c->fed[op->lane]) {
        return 1; /* a dead lane: nothing to compute */
    }
    const int span = mot_cpu_fusion_span(p, i, c->arena);
    if ((c->opt.timing || c->opt.trace) && omp_get_thread_num() == 0) {
        const double t0 = c->opt.trace ? mot_trace_now(c->opt.trace) : omp_get_wtime();
        mot_cpu_run_span(p, i, span, c->arena, c->samplers);
        const double t1 = c->opt.trace ? mot_trace_now(c->opt.trace) : omp_get_wtime();
#pragma omp atomic
        c->base.node_s[op->node] += t1 - t0;
        if (c->opt.trace) {
            trace_op(c, op, t0, t1);
        }
    } else {
        mot_cpu_run_span(p, i, span, c->arena, c->samplers);
    }
    return span;
}

static void execute_serial(cpu_backend *c, const mot_plan *p) {
#pragma omp parallel
    for (int i = 0; i < p->n_instrs;) {
        i += p->prog[i].kind == MOT_INSTR_RUN ? run(c, p, i) : 1;
    }
}

static void group_walk(cpu_backend *c, const mot_plan *p, int group, int n_groups) {
    for (int i = 0; i < p->n_instrs;) {
        const mot_instr *in = &p->prog[i];
        if (in->lane % n_groups != group) {
            i++;
            continue;
        }
        if (in->kind == MOT_INSTR_RUN) {
            i += run(c, p, i);
            continue;
        }
        i++;
        if (in->kind == MOT_INSTR_RECORD) {
#pragma omp barrier
            if (omp_get_thread_num() == 0) {
                __atomic_store_n(&c->events[in->arg], c->pass, __ATOMIC_RELEASE);
            }
        } else {
            if (omp_get_thread_num() == 0) {
                while (__atomic_load_n(&c->events[in->arg], __ATOMIC_ACQUIRE) != c->pass) {
                    _mm_pause();
                }
            }
#pragma omp barrier
        }
    }
}

static void execute_concurrent(cpu_backend *c, const mot_plan *p, int n_groups, int threads) {
#pragma omp parallel num_threads(n_groups)
    {
        /* The runtime may give fewer threads than asked (OMP_DYNAMIC, a thread limit): the
         * groups are the threads there are, so every lane has one. */
        const int groups = omp_get_num_threads(), g = omp_get_thread_num();
        const int team = g < c->opt.n_threads_per_lane ? c->opt.threads_per_lane[g]
                                                       : mot_lane_group_even_threads(threads, groups, g);
#pragma omp parallel num_threads(team)
        group_walk(c, p, g, groups);
    }
}

static mot_status cpu_execute(mot_backend *b, const mot_plan *p) {
    cpu_backend *c = (cpu_backend *)b;
    const mot_step_state *step = (const mot_step_state *)c->arena;
    for (int i = 0; i < p->key.n_lanes; i++) {
        c->fed[i] = step->lane[i].n_new > 0;
        c->tokens[i] = step->lane[i].n_new;
    }
    const int threads = omp_get_max_threads();
    const int n_groups = mot_lane_groups(p->key.n_lanes, threads);
    if (!c->opt.concurrent_lanes || n_groups < 2) {
        execute_serial(c, p);
        if (c->opt.trace) trace_flush(c);
        return MOT_OK;
    }
    if (p->n_events > c->n_events_cap) {
        int *ev = calloc((size_t)p->n_events, sizeof *ev);
        if (!ev) {
            return mot_fail(MOT_ERR_NOMEM, "cpu executor: out of memory for %d events", p->n_events);
        }
        free(c->events);
        c->events = ev;
        c->n_events_cap = p->n_events;
    }
    c->pass++; /* events of earlier passes hold older pass numbers: no reset needed */
    omp_set_max_active_levels(2);
    execute_concurrent(c, p, n_groups, threads);
    if (c->opt.trace) trace_flush(c);
    return MOT_OK;
}

static void cpu_destroy(mot_backend *b) {
    cpu_backend *c = (cpu_backend *)b;
    free(c->arena_alloc);
    free(c->events);
    free(c);
}

mot_status mot_backend_cpu_create(const mot_backend_options *o, mot_backend **out) {
    cpu_backend *c = calloc(1, sizeof *c);
    if (!c) {
        return mot_fail(MOT_ERR_NOMEM, "cpu executor: out of memory");
    }
    c->opt = *o;
    c->base = (mot_backend){.name = "cpu", .open = cpu_open, .write = cpu_write, .read = cpu_read,
                            .execute = cpu_execute, .destroy = cpu_destroy};
    *out = &c->base;
    return MOT_OK;
}
