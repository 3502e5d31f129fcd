/* The scheduler and both executors, without a GPU:
 *   - plans: every op run once, every WAIT after its RECORD, lanes as routed; the LRU cache;
 *   - CPU executor: which ops it fuses into the decode GEMV; lanes side by side give bitwise
 *     the output of lanes one after another;
 *   - CUDA executor on the recording fake (tests/scheduler/fake_gpu.c): a decode plan is
 *     captured on its second use and replayed; in the captured graph every pair of ops that
 *     touch the same memory (one writing) is ordered by a path, and the lanes of one stack
 *     are unordered; captures at step t and t+37 are identical; a failed capture falls back
 *     to eager decoding; the fake itself rejects what a real capture rejects;
 *   - CUDA profiling on the fake's simulated device: timed events give one slice per plan
 *     node per pass on its lane's stream track, in eager passes and graph replays alike, and
 *     the lanes of one stack overlap in time.
 * Usage: test_scheduler POOL/PIPELINE.yaml (a K=3 pool, tests/tools/make_mot_pool.py). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "executor/cpu_ops.h"
#include "executor/cuda_backend.h"
#include "profiling/trace.h"
#include "runtime/engine.h"
#include "runtime/mot_generate.h"
#include "tests/scheduler/fake_gpu.h"
#include "tests/scheduler/test_check.h"

static int failures;

/* ---- plans ---- */

static void check_program(const mot_plan *p) {
    int *runs = calloc((size_t)p->n_ops, sizeof *runs), *recorded = calloc((size_t)p->n_events + 1, sizeof *recorded);
    for (int i = 0; i < p->n_instrs; i++) {
        const mot_instr *in = &p->prog[i];
        if (in->kind == MOT_INSTR_RUN) {
            CHECK(in->arg >= 0 && in->arg < p->n_ops, "instr %d runs op %d of %d", i, in->arg, p->n_ops);
            runs[in->arg]++;
            CHECK(p->ops[in->arg].lane == in->lane, "op %d of lane %d issued on lane %d", in->arg, p->ops[in->arg].lane,
                  in->lane);
        } else if (in->kind == MOT_INSTR_RECORD) {
            recorded[in->arg] = 1;
        } else {
            CHECK(recorded[in->arg], "%s plan: instr %d waits on event %d before it is recorded",
                  mot_phase_name(p->key.phase), i, in->arg);
        }
    }
    for (int i = 0; i < p->n_ops; i++) {
        CHECK(runs[i] == 1, "op %d (%s) runs %d times", i, mot_op_kind_name(p->ops[i].kind), runs[i]);
        CHECK(p->ops[i].reads == mot_op_kind_reads(p->ops[i].kind), "op %d (%s) reads 0x%x, the op table says 0x%x",
              i, mot_op_kind_name(p->ops[i].kind), p->ops[i].reads, mot_op_kind_reads(p->ops[i].kind));
    }
    CHECK(p->ops[p->prog[p->n_instrs - 1].arg].kind == MOT_OP_STEP_ADVANCE, "the program ends with the step advance");
    free(runs);
    free(recorded);
}

/* The route's plan source with a context of 32 and 8 rows per lane, and its arena. */
static void small_plan_source(const mot_model *m, const mot_route *r, mot_plan_source *src,
                              mot_arena_layout *layout) {
    MUST(mot_plan_source_from_route(m, r, 0, src));
    for (int i = 0; i < src->n_lanes; i++) {
        src->ctx[i] = 32, src->max_rows[i] = 8;
    }
    MUST(mot_arena_plan(src, layout));
}

static void test_plans(const mot_model *m, const mot_route *r) {
    mot_plan_source src;
    mot_arena_layout layout;
    small_plan_source(m, r, &src, &layout);
    mot_plan_cache cache;
    MUST(mot_plan_cache_init(&cache, 2));
    const mot_plan *prefill, *decode, *again;
    MUST(mot_plan_cache_get(&cache, &src, &layout, MOT_PHASE_PREFILL, &prefill));
    MUST(mot_plan_cache_get(&cache, &src, &layout, MOT_PHASE_DECODE, &decode));
    check_program(prefill);
    check_program(decode);
    CHECK(prefill->key.n_lanes == 3 && prefill->key.experts[0] == r->active[0], "lanes follow the route");
    /* Read the prefill plan now: the third key below evicts (frees) it. */
    printf("plans: prefill %d ops / %d instructions, decode %d ops, %d events\n", prefill->n_ops, prefill->n_instrs,
           decode->n_ops, decode->n_events);
    prefill = NULL;
    MUST(mot_plan_cache_get(&cache, &src, &layout, MOT_PHASE_DECODE, &again));
    CHECK(again == decode && cache.hits == 1 && cache.misses == 2, "a second get hits (hits %llu, misses %llu)",
          (unsigned long long)cache.hits, (unsigned long long)cache.misses);
    /* A third key (another primary) evicts the least recently used (the prefill plan). */
    mot_plan_source other = src;
    other.ex[0] = src.ex[1], other.ex[1] = src.ex[0];
    other.expert[0] = src.expert[1], other.expert[1] = src.expert[0];
    other.ctx[0] = src.ctx[1], other.ctx[1] = src.ctx[0];
    mot_arena_layout other_layout;
    MUST(mot_arena_plan(&other, &other_layout));
    const mot_plan *p3;
    MUST(mot_plan_cache_get(&cache, &other, &other_layout, MOT_PHASE_DECODE, &p3));
    CHECK(cache.evictions == 1 && cache.n == 2, "LRU eviction (evictions %llu)", (unsigned long long)cache.evictions);
    MUST(mot_plan_cache_get(&cache, &src, &layout, MOT_PHASE_DECODE, &again));
    CHECK(again == decode, "the recently used decode plan survived the eviction");
    mot_plan *chunk;
    CHECK(mot_plan_compile(&src, &layout, MOT_PHASE_PREFILL_CHUNK, &chunk) != MOT_OK,
          "a MoT prefill cannot be chunked");
    mot_plan_cache_free(&cache);
}

/* ---- a peer that only listens (docs/pipeline.md): the route a, b, c over the model's graph
 * with a (the primary) listening at attention 0 and c at attention 1 ---- */

static int count_ops(const mot_plan *p, mot_op_kind kind, int lane, int stack) {
    int n = 0;
    for (int i = 0; i < p->n_ops; i++) {
        n += p->ops[i].kind == kind && p->ops[i].lane == lane && p->ops[i].stack == stack;
    }
    return n;
}

static const mot_plan_op *cross_at(const mot_plan *p, int stack) {
    for (int i = 0; i < p->n_ops; i++) {
        if (p->ops[i].kind == MOT_OP_CROSS_ATTENTION && p->ops[i].stack == stack) return &p->ops[i];
    }
    return NULL;
}

static int waits_on(const mot_plan *p, int event) {
    for (int i = 0; i < p->n_instrs; i++) {
        if (p->prog[i].kind == MOT_INSTR_WAIT && p->prog[i].arg == event) return 1;
    }
    return 0;
}

static void test_listener_plans(const mot_model *m, const mot_route *r) {
    mot_plan_source src;
    mot_arena_layout layout;
    small_plan_source(m, r, &src, &layout);
    mot_graph g = m->graph;
    g.nodes = malloc(sizeof *g.nodes * (size_t)g.n_nodes);
    memcpy(g.nodes, m->graph.nodes, sizeof *g.nodes * (size_t)g.n_nodes);
    const int listener[2] = {r->active[0], r->active[2]};
    int edited = 0;
    for (int i = 0; i < g.n_nodes; i++) {
        mot_graph_node *n = &g.nodes[i];
        if (strcmp(n->kind, "attention") || n->stack > 1) continue;
        const int *in = mot_graph_node_inputs(n);
        int *moved = malloc(sizeof *moved * (size_t)n->n_inputs), k = 0, lid = -1;
        for (int j = 0; j < n->n_inputs; j++) {
            if (g.nodes[in[j]].expert == listener[n->stack]) lid = in[j];
            else moved[k++] = in[j];
        }
        moved[k] = lid;
        n->attention_inputs = moved, n->n_listeners = 1, n->input_pos = NULL;
        edited += lid >= 0;
    }
    CHECK(edited == 2, "the graph has attentions 0 and 1 (%d edited)", edited);
    src.graph = &g;
    for (int phase = MOT_PHASE_PREFILL; phase <= MOT_PHASE_DECODE; phase++) {
        mot_plan *p;
        MUST(mot_plan_compile(&src, &layout, (mot_phase)phase, &p));
        check_program(p);
        const mot_plan_op *o0 = cross_at(p, 0), *o1 = cross_at(p, 1);
        const mot_op_cross_attention *x0 = o0 ? &o0->cross_attention : NULL, *x1 = o1 ? &o1->cross_attention : NULL;
        CHECK(x0 && x0->n_seg == 2 && x0->seg_lane[0] == 1 && x0->seg_lane[1] == 2,
              "attention 0: keys from lanes 1, 2 (the primary listens)");
        CHECK(x1 && x1->n_seg == 2 && x1->seg_lane[0] == 0 && x1->seg_lane[1] == 1,
              "attention 1: keys from lanes 0, 1 (lane 2 listens)");
        CHECK(count_ops(p, MOT_OP_LATENT_APPEND, 0, 0) == 0 && count_ops(p, MOT_OP_LATENT_APPEND, 2, 1) == 0,
              "a listener appends no latent K/V");
        CHECK(count_ops(p, MOT_OP_LATENT_APPEND, 0, 1) == 1 && count_ops(p, MOT_OP_LATENT_APPEND, 2, 0) == 1,
              "a speaker appends its latent K/V");
        CHECK(waits_on(p, 0 * src.n_lanes + 1) && waits_on(p, 0 * src.n_lanes + 2) && waits_on(p, 1 * src.n_lanes + 1)
                  && !waits_on(p, 1 * src.n_lanes + 2),
              "the attention waits on its speaking lanes only");
        /* its reads: q, two segments' K and V, the step header, lane 0's and lane 1's geometry */
        mot_buf reads[64];
        const int nr = o1 ? mot_plan_op_reads(o1, reads, 64) : 0;
        CHECK(nr == 8, "the cross-attention reads 8 buffers, found %d", nr);
        if (phase == MOT_PHASE_PREFILL) {
            printf("listener plans: prefill %d ops, attention 0 keys from lanes 1 2, attention 1 from 0 1\n",
                   p->n_ops);
        }
        mot_plan_free(p);
    }
    for (int i = 0; i < g.n_nodes; i++) {
        if (g.nodes[i].n_listeners) free(g.nodes[i].attention_inputs);
    }
    free(g.nodes);
}

/* ---- two primaries' worth of cross-attention (docs/pipeline.md, `query: 1`): the model's
 * graph with, after each attention{q}, attention{q}b of query rank 1 (same speakers); every
 * reverse projector lists both ---- */

static mot_graph two_query_graph(const mot_graph *from) {
    int n = from->n_nodes, added = 0;
    for (int i = 0; i < n; i++) added += !strcmp(from->nodes[i].kind, "attention");
    mot_graph g = {n + added, calloc((size_t)(n + added), sizeof(mot_graph_node))};
    int *at = malloc(sizeof *at * (size_t)n);
    for (int i = 0, j = 0; i < n; i++) {
        at[i] = j++;
        j += !strcmp(from->nodes[i].kind, "attention");
    }
    for (int i = 0; i < n; i++) {
        const mot_graph_node *a = &from->nodes[i];
        mot_graph_node *c = &g.nodes[at[i]];
        *c = *a;
        c->attention_inputs = NULL, c->input_pos = NULL;
        const int *in = mot_graph_node_inputs(a);
        for (int k = 0; k < a->n_inputs; k++) c->inputs[k] = at[in[k]];
        if (!strcmp(a->kind, "attention")) {
            g.nodes[at[i] + 1] = *c;
            g.nodes[at[i] + 1].query = 1;
            g.nodes[at[i] + 1].id = "attentionb";
        }
        if (!strcmp(a->kind, "projector") && a->reverse && a->n_inputs == 2) {
            c->n_inputs = 3, c->inputs[2] = c->inputs[1], c->inputs[1] = c->inputs[0] + 1;
        }
    }
    free(at);
    return g;
}

static const mot_plan_op *op_at(const mot_plan *p, mot_op_kind kind, int lane, int stack, int reverse) {
    for (int i = 0; i < p->n_ops; i++) {
        const mot_plan_op *o = &p->ops[i];
        if (o->kind == kind && o->lane == lane && o->stack == stack && o->reverse == reverse) return o;
    }
    return NULL;
}

static int instr_count(const mot_plan *p, mot_instr_kind kind, int lane, int event) {
    int n = 0;
    for (int i = 0; i < p->n_instrs; i++) n += p->prog[i].kind == kind && p->prog[i].lane == lane && p->prog[i].arg == event;
    return n;
}

static void test_two_query_plans(const mot_model *m, const mot_route *r) {
    mot_plan_source src;
    mot_arena_layout layout;
    mot_graph g = two_query_graph(&m->graph);
    MUST(mot_plan_source_from_route(m, r, 0, &src));
    for (int i = 0; i < src.n_lanes; i++) src.ctx[i] = 32, src.max_rows[i] = 8;
    src.graph = &g;
    MUST(mot_arena_plan(&src, &layout));
    CHECK(layout.lane[1].lat_o.bytes > 0 && layout.lane[2].lat_o.bytes == 0,
          "lanes 0 and 1 hold queries and attention outputs, lane 2 does not");
    const int K = src.n_lanes;
    for (int phase = MOT_PHASE_PREFILL; phase <= MOT_PHASE_DECODE; phase++) {
        mot_plan *p;
        MUST(mot_plan_compile(&src, &layout, (mot_phase)phase, &p));
        check_program(p);
        for (int q = 0; q < src.stacks; q++) {
            const mot_plan_op *x0 = op_at(p, MOT_OP_CROSS_ATTENTION, 0, q, 0), *x1 = op_at(p, MOT_OP_CROSS_ATTENTION, 1, q, 0);
            CHECK(x0 && x1 && !op_at(p, MOT_OP_CROSS_ATTENTION, 2, q, 0), "stack %d: attentions on lanes 0 and 1 only", q);
            CHECK(x1 && x1->cross_attention.n_seg == 3 && x1->cross_attention.q.off == layout.lane[1].lat_q.off &&
                      x1->cross_attention.out.off == layout.lane[1].lat_att.off,
                  "stack %d: lane 1 queries its own latent over all three lanes' keys", q);
            const mot_plan_op *r0 = op_at(p, MOT_OP_MATMUL, 0, q, 1), *r1 = op_at(p, MOT_OP_MATMUL, 1, q, 1),
                              *r2 = op_at(p, MOT_OP_MATMUL, 2, q, 1);
            CHECK(r0 && r0->matmul.x.off == layout.lane[0].lat_o.off && r1 && r1->matmul.x.off == layout.lane[1].lat_o.off
                      && r2 && r2->matmul.x.off == layout.lane[2].z.off,
                  "stack %d: lanes 0 and 1 reverse-project their attention's output, lane 2 its own z", q);
            CHECK(instr_count(p, MOT_INSTR_RECORD, 0, q * K + 0) == 1 && instr_count(p, MOT_INSTR_WAIT, 1, q * K + 0) == 1
                      && instr_count(p, MOT_INSTR_WAIT, 1, q * K + 2) == 1
                      && instr_count(p, MOT_INSTR_WAIT, 0, q * K + 1) == 1,
                  "stack %d: lane 1 waits on lanes 0 and 2, lane 0 on lane 1", q);
            mot_buf reads[64];
            const int nr = x1 ? mot_plan_op_reads(x1, reads, 64) : 0;
            CHECK(nr == 1 + 6 + 1 + 3, "lane 1's cross-attention reads q, 3 segments' K and V, the step header and 3 "
                  "lanes' geometry: %d buffers", nr);
        }
        if (phase == MOT_PHASE_PREFILL) {
            printf("two-query plans: prefill %d ops, attentions on lanes 0 and 1 at each of %d stacks\n", p->n_ops,
                   src.stacks);
        }
        mot_plan_free(p);
    }
    /* one expert routed: the query: 1 attentions do not run */
    src.n_lanes = 1;
    MUST(mot_arena_plan(&src, &layout));
    mot_plan *p;
    MUST(mot_plan_compile(&src, &layout, MOT_PHASE_DECODE, &p));
    check_program(p);
    int cross = 0;
    for (int i = 0; i < p->n_ops; i++) cross += p->ops[i].kind == MOT_OP_CROSS_ATTENTION;
    CHECK(cross == src.stacks, "K = 1: %d cross-attentions, expected the primary's %d", cross, src.stacks);
    mot_plan_free(p);
    free(g.nodes);
}

/* ---- CPU: which ops the executor fuses into the decode GEMV ---- */

/* Spans of the walk over p with every lane at n tokens: how many of 2 and of 3 ops. */
static void fusion_spans(const mot_plan *p, const mot_arena_layout *layout, int n, int *two, int *three) {
    char *arena = calloc(1, layout->bytes);
    mot_step_state *s = (mot_step_state *)arena;
    for (int i = 0; i < p->key.n_lanes; i++) {
        s->lane[i].n_new = n;
    }
    *two = *three = 0;
    for (int i = 0; i < p->n_instrs;) {
        const int span = p->prog[i].kind == MOT_INSTR_RUN ? mot_cpu_fusion_span(p, i, arena) : 1;
        *two += span == 2, *three += span == 3;
        i += span;
    }
    free(arena);
}

/* The kinds of lane 0's ops of decoder layer 0 of stack 0, in program order, as names. */
static void layer_kinds(const mot_plan *p, char *buf, size_t cap, int *count) {
    size_t at = 0;
    *count = 0;
    buf[0] = 0;
    for (int i = 0; i < p->n_instrs; i++) {
        const mot_plan_op *op = &p->ops[p->prog[i].arg];
        if (p->prog[i].kind == MOT_INSTR_RUN && op->lane == 0 && op->layer == 0 && op->stack == 0 &&
            op->node == MOT_NODE_STACK && at < cap) {
            at += (size_t)snprintf(buf + at, cap - at, "%s%s", *count ? " " : "", mot_op_kind_name(op->kind));
            (*count)++;
        }
    }
}

static int count_kind(const mot_plan *p, mot_op_kind kind) {
    int n = 0;
    for (int i = 0; i < p->n_ops; i++) n += p->ops[i].kind == kind;
    return n;
}

/* Decode plans fuse (scheduler/plan_fuse.c): every layer's FFN norm, gate/up and SwiGLU are one
 * RMSNORM_MATMUL_SWIGLU, its attention norm, q/k/v and RoPE + KV append one
 * RMSNORM_MATMUL_ROPE_APPEND, and the final norm and the LM head one RMSNORM_MATMUL; prefill plans and `unfused` sources keep them apart, and there the CPU
 * executor fuses the same ops at run time: in decode every layer's three and two, and the
 * heads' two; with 8 tokens (the GEMM) only the heads (the head reads one row). */
static void test_fusion(const mot_model *m, const mot_route *r) {
    mot_plan_source src;
    mot_arena_layout layout;
    small_plan_source(m, r, &src, &layout);
    mot_plan *decode, *plain, *prefill;
    MUST(mot_plan_compile(&src, &layout, MOT_PHASE_DECODE, &decode));
    MUST(mot_plan_compile(&src, &layout, MOT_PHASE_PREFILL, &prefill));
    mot_plan_source unfused = src;
    unfused.unfused = 1;
    MUST(mot_plan_compile(&unfused, &layout, MOT_PHASE_DECODE, &plain));
    check_program(decode);
    check_program(plain);
    const int layers = count_kind(plain, MOT_OP_SWIGLU), heads = count_kind(plain, MOT_OP_RMSNORM_LAST);
    CHECK(layers > 0 && count_kind(decode, MOT_OP_RMSNORM_MATMUL_SWIGLU) == layers &&
              count_kind(decode, MOT_OP_RMSNORM_MATMUL_ROPE_APPEND) == layers &&
              count_kind(decode, MOT_OP_RMSNORM_MATMUL) == heads,
          "decode: %d rmsnorm_matmul_swiglu, %d rmsnorm_matmul_rope_append, %d rmsnorm_matmul for %d layers and %d "
          "heads", count_kind(decode, MOT_OP_RMSNORM_MATMUL_SWIGLU), count_kind(decode, MOT_OP_RMSNORM_MATMUL_ROPE_APPEND),
          count_kind(decode, MOT_OP_RMSNORM_MATMUL), layers, heads);
    CHECK(count_kind(decode, MOT_OP_RMSNORM) + count_kind(decode, MOT_OP_RMSNORM_LAST) +
                  count_kind(decode, MOT_OP_SWIGLU) + count_kind(decode, MOT_OP_ROPE_APPEND) == 0 &&
              decode->n_ops == plain->n_ops - 4 * layers - heads,
          "decode: no norm or swiglu left alone (%d ops, unfused %d)", decode->n_ops, plain->n_ops);
    CHECK(decode->n_nodes == plain->n_nodes && decode->n_events == plain->n_events &&
              decode->n_instrs == plain->n_instrs - 4 * layers - heads,
          "fusion keeps nodes (%d, %d) and events (%d, %d)", decode->n_nodes, plain->n_nodes, decode->n_events,
          plain->n_events);
    CHECK(count_kind(prefill, MOT_OP_RMSNORM_MATMUL) + count_kind(prefill, MOT_OP_RMSNORM_MATMUL_SWIGLU) +
                  count_kind(prefill, MOT_OP_RMSNORM_MATMUL_ROPE_APPEND) == 0,
          "prefill plans are not fused");
    char fused_layer[256], plain_layer[256];
    int n_fused, n_plain;
    layer_kinds(decode, fused_layer, sizeof fused_layer, &n_fused);
    layer_kinds(plain, plain_layer, sizeof plain_layer, &n_plain);
    CHECK(!strcmp(fused_layer, "rmsnorm_matmul_rope_append attention matmul rmsnorm_matmul_swiglu matmul"),
          "a fused decode layer: %s", fused_layer);
    CHECK(!strcmp(plain_layer, "rmsnorm matmul rope_append attention matmul rmsnorm matmul swiglu matmul"),
          "an unfused decode layer: %s", plain_layer);
    printf("fusion: a decoder layer of a decode plan is %d ops (%s), %d unfused (%s)\n", n_fused, fused_layer,
           n_plain, plain_layer);
    /* every fused op: its parts are the unfused plan's ops, in order */
    for (int i = 0, k = 0; i < decode->n_ops && k < plain->n_ops; i++) {
        const mot_plan_op *op = &decode->ops[i];
        const int parts = op->kind == MOT_OP_RMSNORM_MATMUL ? 2
                          : op->kind == MOT_OP_RMSNORM_MATMUL_SWIGLU || op->kind == MOT_OP_RMSNORM_MATMUL_ROPE_APPEND ? 3
                                                                                                                   : 1;
        for (int q = 0; q < parts && k < plain->n_ops; q++, k++) {
            mot_plan_op part = parts == 1 ? *op : mot_plan_op_part(op, q);
            const mot_plan_op *want = &plain->ops[k];
            CHECK(part.kind == want->kind && part.node_id == want->node_id && part.lane == want->lane &&
                      part.layer == want->layer && part.n_w == want->n_w && part.reads == want->reads &&
                      (parts == 1 || q != 1 || !memcmp(&part.matmul, &want->matmul, sizeof part.matmul)) &&
                      (parts == 1 || q != 0 || !memcmp(&part.rmsnorm, &want->rmsnorm, sizeof part.rmsnorm)) &&
                      (parts == 1 || q != 2 || want->kind != MOT_OP_ROPE_APPEND ||
                       !memcmp(&part.rope_append, &want->rope_append, sizeof part.rope_append)),
                  "op %d part %d is not unfused op %d (%s)", i, q, k, mot_op_kind_name(want->kind));
        }
    }
    int two, three;
    fusion_spans(decode, &layout, 1, &two, &three);
    CHECK(two == 0 && three == 0, "a fused plan leaves the CPU executor nothing to fuse (%d, %d)", two, three);
    fusion_spans(plain, &layout, 1, &two, &three);
    CHECK(three == layers, "unfused decode: %d norm+gate/up+swiglu fusions for %d layers", three, layers);
    CHECK(two == layers + heads, "unfused decode: %d norm+matmul fusions, expected %d (layers) + %d (heads)", two,
          layers, heads);
    printf("fusion: the unfused decode plan runs %d three-op and %d two-op GEMVs on the CPU\n", three, two);
    fusion_spans(plain, &layout, 8, &two, &three);
    CHECK(two == heads && three == 0, "8 tokens: %d and %d fusions, expected %d (heads) and none", two, three, heads);
    mot_plan_free(decode);
    mot_plan_free(plain);
    mot_plan_free(prefill);
}

/* The CPU: a fused decode step's logits are bitwise the unfused plan's (every lane, every step). */
static void test_fused_logits(const mot_model *m, const mot_route *r) {
    mot_session s[2];
    for (int u = 0; u < 2; u++) {
        mot_generate_opts o = {.n_predict = 6, .keep_logits = 1};
        o.backend.kind = MOT_BACKEND_CPU;
        o.backend.unfused = u;
        MUST(mot_session_generate(m, r, "The quick brown fox jumps over", &o, &s[u]));
    }
    for (int i = 0; i < s[0].n_lanes; i++) {
        const mot_token_log *a = &s[0].lanes[i].sampled, *b = &s[1].lanes[i].sampled;
        const int vocab = m->experts[s[0].lanes[i].expert]->cfg.vocab;
        CHECK(a->n == b->n && a->n > 1, "lane %d: %d vs %d tokens", i, a->n, b->n);
        if (a->n == b->n) {
            CHECK(!memcmp(a->logits, b->logits, sizeof(float) * (size_t)a->n * vocab),
                  "lane %d: fused and unfused decode logits differ", i);
        }
    }
    printf("cpu: fused and unfused decode plans give the same logits bitwise over %d steps\n",
           s[0].lanes[0].sampled.n);
    mot_session_free(&s[0]);
    mot_session_free(&s[1]);
}

/* ---- CPU: concurrent lanes == serial lanes, bitwise ---- */

static void generate(const mot_model *m, const mot_route *r, int concurrent, mot_session *s) {
    mot_generate_opts o = {.n_predict = 6, .keep_logits = 1};
    o.backend.kind = MOT_BACKEND_CPU;
    o.backend.concurrent_lanes = concurrent;
    MUST(mot_session_generate(m, r, "The quick brown fox jumps over", &o, s));
}

static void test_cpu_lanes(const mot_model *m, const mot_route *r) {
    omp_set_num_threads(2);
    mot_session serial, concurrent;
    generate(m, r, 0, &serial);
    generate(m, r, 1, &concurrent);
    for (int i = 0; i < serial.n_lanes; i++) {
        const mot_token_log *a = &serial.lanes[i].sampled, *b = &concurrent.lanes[i].sampled;
        const int vocab = m->experts[serial.lanes[i].expert]->cfg.vocab;
        CHECK(a->n == b->n && a->n > 0, "lane %d: %d vs %d tokens", i, a->n, b->n);
        if (a->n == b->n) {
            CHECK(!memcmp(a->tokens, b->tokens, sizeof(int) * (size_t)a->n), "lane %d: tokens differ", i);
            CHECK(!memcmp(a->logits, b->logits, sizeof(float) * (size_t)a->n * vocab),
                  "lane %d: logits differ between serial and concurrent lanes", i);
        }
    }
    printf("cpu: serial and concurrent lanes agree bitwise over %d steps\n", serial.lanes[0].sampled.n);
    mot_session_free(&serial);
    mot_session_free(&concurrent);
}

/* ---- CUDA executor on the fake ---- */

static int is_layer_op(const mot_plan_op *op) { return op->node == MOT_NODE_STACK && op->layer >= 0; }

static void check_graph(const fake_graph *g, const mot_plan *p) {
    CHECK(g->n_nodes == p->n_ops, "the graph holds %d launches for %d ops", g->n_nodes, p->n_ops);
    long hazards = 0, unordered_pairs = 0;
    for (int a = 0; a < g->n_nodes; a++) {
        const mot_plan_op *oa = g->nodes[a].launch.op;
        /* the launch's op: a copy of the plan's with device f32 vectors */
        const mot_plan_op *pa = &p->ops[a];
        CHECK(oa->kind == pa->kind && oa->node_id == pa->node_id && oa->lane == pa->lane && oa->layer == pa->layer &&
                  oa->stack == pa->stack && oa->reverse == pa->reverse,
              "node %d is op %d in program order", a, a);
        for (int b = a + 1; b < g->n_nodes; b++) {
            const mot_plan_op *ob = g->nodes[b].launch.op;
            if (fake_ops_conflict(oa, ob)) {
                hazards++;
                CHECK(fake_graph_reaches(g, a, b), "ops %d (%s, lane %d) and %d (%s, lane %d) touch the same memory "
                      "without a path", a, mot_op_kind_name(oa->kind), oa->lane, b, mot_op_kind_name(ob->kind), ob->lane);
            }
            if (is_layer_op(oa) && is_layer_op(ob) && oa->lane != ob->lane && oa->stack == ob->stack) {
                unordered_pairs++;
                CHECK(!fake_graph_reaches(g, a, b) && !fake_graph_reaches(g, b, a),
                      "stack %d: lanes %d and %d are ordered (ops %d, %d): they cannot overlap", oa->stack, oa->lane,
                      ob->lane, a, b);
            }
        }
        CHECK(g->nodes[a].lane == oa->lane, "op %d runs on lane %d's stream", a, oa->lane);
    }
    CHECK(hazards > 0 && unordered_pairs > 0, "the checks saw %ld hazards, %ld unordered pairs", hazards, unordered_pairs);
    printf("graph: %d launches, %ld conflicting pairs all ordered, %ld cross-lane layer pairs unordered\n", g->n_nodes,
           hazards, unordered_pairs);
}

static int same_launch(const mot_gpu_launch *a, const mot_gpu_launch *b) {
    /* the ops: copies of the plan's with device f32 vectors, the same bytes */
    int same = !memcmp(a->op, b->op, sizeof *a->op) && a->arena == b->arena && a->step == b->step &&
               a->rows == b->rows && a->max_rows == b->max_rows && a->vocab == b->vocab &&
               a->temperature == b->temperature && a->top_k == b->top_k && a->top_p == b->top_p && a->min_p == b->min_p;
    for (int j = 0; j < MOT_OP_MAX_W; j++) {
        same &= a->w[j].data == b->w[j].data && a->bias[j] == b->bias[j];
    }
    return same;
}

static void compare_graphs(const fake_graph *a, const fake_graph *b) {
    int same = a->n_nodes == b->n_nodes;
    for (int i = 0; same && i < a->n_nodes; i++) {
        const fake_node *x = &a->nodes[i], *y = &b->nodes[i];
        same = x->stream == y->stream && x->lane == y->lane && x->n_deps == y->n_deps &&
               !memcmp(x->deps, y->deps, sizeof(int) * (size_t)x->n_deps) && same_launch(&x->launch, &y->launch);
        CHECK(same, "captures at t and t+37 differ at node %d", i);
    }
    CHECK(a->n_nodes == b->n_nodes, "captures at t and t+37 differ in size (%d vs %d)", a->n_nodes, b->n_nodes);
}

/* An engine on the fake with a CUDA backend made from bo (prompts of 5 tokens), using the
 * weights `lender` uploaded when not NULL. */
static void fake_engine_sharing(const mot_model *m, const mot_route *r, mot_gpu_api *api, const mot_backend_options *bo,
                                mot_backend *lender, mot_engine *e) {
    mot_plan_source src;
    MUST(mot_plan_source_from_route(m, r, 0, &src));
    for (int i = 0; i < src.n_lanes; i++) src.ctx[i] = 128, src.max_rows[i] = 5;
    memset(e, 0, sizeof *e);
    e->src = src;
    e->src.unfused = bo->unfused;
    e->trace = bo->trace;
    MUST(mot_arena_plan(&e->src, &e->layout));
    MUST(mot_plan_cache_init(&e->plans, 8));
    mot_sampler_params sp = {0};
    for (int i = 0; i < src.n_lanes; i++) MUST(mot_sampler_init(&e->samplers[i], &sp, (uint64_t)i, src.ex[i]->cfg.vocab));
    MUST(mot_backend_cuda_with_api(bo, api, &e->backend));
    if (lender) MUST(e->backend->share_weights(e->backend, lender));
    MUST(e->backend->open(e->backend, &e->src, &e->layout, e->samplers));
}

static void fake_engine(const mot_model *m, const mot_route *r, mot_gpu_api *api, const mot_backend_options *bo,
                        mot_engine *e) {
    fake_engine_sharing(m, r, api, bo, NULL, e);
}

static void run_prompts(mot_engine *e) {
    int toks[5] = {1, 2, 3, 4, 5}, *prompts[MOT_MAX_LANES], ns[MOT_MAX_LANES];
    for (int i = 0; i < e->src.n_lanes; i++) prompts[i] = toks, ns[i] = 5;
    MUST(mot_engine_prefill(e, prompts, ns));
}

/* The captured decode graph launches the plan's fused ops (fused) or the plain ones. */
static void check_graph_fusion(const fake_graph *g, int fused) {
    int n_fused = 0, n_plain = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const mot_op_kind k = g->nodes[i].launch.op->kind;
        n_fused += k == MOT_OP_RMSNORM_MATMUL || k == MOT_OP_RMSNORM_MATMUL_SWIGLU || k == MOT_OP_RMSNORM_MATMUL_ROPE_APPEND;
        n_plain += k == MOT_OP_RMSNORM || k == MOT_OP_RMSNORM_LAST || k == MOT_OP_SWIGLU || k == MOT_OP_ROPE_APPEND;
    }
    CHECK(fused ? n_fused > 0 && n_plain == 0 : n_fused == 0 && n_plain > 0,
          "%s decode graph: %d fused launches, %d norm/swiglu launches", fused ? "a fused" : "an unfused", n_fused,
          n_plain);
    printf("graph: %s decode plan, %d launches, %d of them fused norm+GEMV(+SwiGLU)\n", fused ? "fused" : "unfused",
           g->n_nodes, n_fused);
}

static void test_cuda_executor_with(const mot_model *m, const mot_route *r, int unfused) {
    fake_gpu *f = fake_gpu_create();
    mot_gpu_api api = fake_gpu_api(f);
    mot_backend_options bo = {.kind = MOT_BACKEND_CUDA, .graphs = 1, .graph_cache = 4, .unfused = unfused};
    mot_engine e;
    fake_engine(m, r, &api, &bo, &e);
    const mot_cuda_backend_stats *stats = mot_cuda_backend_stats_of(e.backend);

    run_prompts(&e);
    MUST(mot_engine_decode(&e)); /* first use: eager */
    CHECK(fake_gpu_graph_count(f) == 0, "no capture on a key's first use");
    MUST(mot_engine_decode(&e)); /* second use: captured, then launched */
    CHECK(fake_gpu_graph_count(f) == 1 && stats->graph_launches == 1, "captured on the second use (%d graphs)",
          fake_gpu_graph_count(f));
    long launches = fake_gpu_launches(f);
    for (int i = 0; i < 3; i++) MUST(mot_engine_decode(&e));
    CHECK(fake_gpu_graph_launches(f) == 4 && fake_gpu_launches(f) == launches,
          "replays launch the graph only (%ld graph launches, %ld new op launches)", fake_gpu_graph_launches(f),
          fake_gpu_launches(f) - launches);
    const mot_plan *decode;
    MUST(mot_plan_cache_get(&e.plans, &e.src, &e.layout, MOT_PHASE_DECODE, &decode));
    if (fake_gpu_graph_count(f) == 1) {
        check_graph(fake_gpu_graph(f, 0), decode);
        check_graph_fusion(fake_gpu_graph(f, 0), !bo.unfused);
    }

    /* Step t + 37: other positions and lengths in the step state, same capture. */
    mot_step_state later = e.step;
    for (int i = 0; i < later.n_lanes; i++) later.lane[i].pos += 37, later.lane[i].rows += 37;
    later.step += 37;
    MUST(e.backend->write(e.backend, e.layout.step, &later));
    e.step = later;
    mot_cuda_backend_drop_graphs(e.backend);
    MUST(mot_engine_decode(&e));
    MUST(mot_engine_decode(&e));
    CHECK(fake_gpu_graph_count(f) == 2, "recaptured after dropping the graphs");
    if (fake_gpu_graph_count(f) == 2) compare_graphs(fake_gpu_graph(f, 0), fake_gpu_graph(f, 1));

    /* A capture that fails: the key decodes eagerly from then on. */
    mot_cuda_backend_drop_graphs(e.backend);
    fake_gpu_fail_next_capture(f);
    long graph_launches = fake_gpu_graph_launches(f);
    MUST(mot_engine_decode(&e));
    MUST(mot_engine_decode(&e)); /* capture fails here, the step still runs */
    MUST(mot_engine_decode(&e));
    CHECK(stats->capture_failures == 1 && fake_gpu_graph_launches(f) == graph_launches && stats->eager_passes >= 4,
          "eager fallback (failures %llu, eager passes %llu)", (unsigned long long)stats->capture_failures,
          (unsigned long long)stats->eager_passes);
    CHECK(fake_gpu_errors(f) == 1, "only the injected capture failure was rejected (%d: %s)", fake_gpu_errors(f),
          fake_gpu_last_error(f));
    mot_engine_close(&e);
    fake_gpu_destroy(f);
}

static void test_cuda_executor(const mot_model *m, const mot_route *r) {
    test_cuda_executor_with(m, r, 0);
    test_cuda_executor_with(m, r, 1);
}

/* A quantized weight goes to the device as its raw blocks, rows x mot_dtype_row_bytes
 * bytes (kernels/cuda/quant.cu reads them), and its lane gets a dequantization tile for
 * prefill GEMMs; the other weights and lanes are as before. One weight of lane 0's expert
 * is swapped for zero Q8_0 blocks (valid: scale 0) for the run, then restored. */
static void test_cuda_quant_upload(const mot_model *m, const mot_route *r) {
    mot_plan_source src;
    MUST(mot_plan_source_from_route(m, r, 0, &src));
    mot_expert *ex = (mot_expert *)src.ex[0];
    mot_weight *w = NULL, *other = NULL;
    for (int l = 0; l < ex->cfg.n_layers && !w; l++) {
        mot_layer_weights *L = &ex->layers[l];
        mot_weight *cand[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int j = 0; j < 7 && !w; j++) {
            if (cand[j]->cols % 32 == 0) w = cand[j], other = cand[(j + 1) % 7];
        }
    }
    CHECK(w != NULL, "lane 0's expert has a weight of whole Q8_0 blocks");
    if (!w) return;
    const mot_weight saved = *w;
    const size_t bytes = mot_dtype_row_bytes(MOT_DTYPE_Q8_0, w->cols) * (size_t)w->rows;
    unsigned char *blocks = calloc(1, bytes);
    w->dtype = MOT_DTYPE_Q8_0;
    w->data = blocks;

    fake_gpu *f = fake_gpu_create();
    mot_gpu_api api = fake_gpu_api(f);
    /* fast: only quantized weights need the tile (exact also gives one to f16/bf16 lanes:
     * test_cuda_precision) */
    mot_backend_options bo = {.kind = MOT_BACKEND_CUDA, .graphs = 1, .graph_cache = 4, .precision_fast = 1};
    mot_engine e;
    fake_engine(m, r, &api, &bo, &e);
    CHECK(fake_gpu_uploaded_bytes(f, blocks) == bytes, "a Q8_0 [%lld, %lld] weight uploads rows x row_bytes = %zu bytes (%zu)",
          (long long)w->rows, (long long)w->cols, bytes, fake_gpu_uploaded_bytes(f, blocks));
    const size_t other_bytes = (size_t)other->rows * other->cols * mot_dtype_size(other->dtype);
    CHECK(fake_gpu_uploaded_bytes(f, other->data) == other_bytes, "a %s weight uploads %zu bytes (%zu)",
          mot_dtype_name(other->dtype), other_bytes, fake_gpu_uploaded_bytes(f, other->data));
    CHECK(fake_gpu_lane_dequant_bytes(f, 0) >= (size_t)w->cols * sizeof(float),
          "lane 0 (quantized) has a dequantization tile of at least a row (%zu bytes)", fake_gpu_lane_dequant_bytes(f, 0));
    for (int i = 1; i < e.src.n_lanes; i++) {
        if (e.src.ex[i] != ex) {
            CHECK(fake_gpu_lane_dequant_bytes(f, i) == 0, "fast: lane %d (no quantized weights) has no tile (%zu bytes)", i,
                  fake_gpu_lane_dequant_bytes(f, i));
        }
    }
    run_prompts(&e); /* the plans bind the quantized weight's device copy like any other */
    MUST(mot_engine_decode(&e));
    MUST(mot_engine_decode(&e));
    CHECK(fake_gpu_errors(f) == 0, "quantized weight run: nothing rejected (%s)", fake_gpu_last_error(f));
    mot_engine_close(&e);
    fake_gpu_destroy(f);
    *w = saved;
    free(blocks);
}

/* A backend that shares another's weights (training's second seat, train/pass_slot.h)
 * uploads none of them, and runs after the lender is gone (the block is freed by the last of
 * the two: under ASan, the CI's sanitizer pass, a use after free or a leak fails it). */
static void test_cuda_shared_weights(const mot_model *m, const mot_route *r) {
    fake_gpu *f = fake_gpu_create();
    mot_gpu_api api = fake_gpu_api(f);
    mot_backend_options bo = {.kind = MOT_BACKEND_CUDA, .graphs = 1, .graph_cache = 4};
    mot_engine a, b;
    fake_engine(m, r, &api, &bo, &a);
    const mot_weight *wq = &a.src.ex[0]->layers[0].wq;
    const size_t once = fake_gpu_uploaded_bytes(f, wq->data);
    fake_engine_sharing(m, r, &api, &bo, a.backend, &b);
    CHECK(once > 0 && fake_gpu_uploaded_bytes(f, wq->data) == once,
          "shared weights: lane 0's q weight uploaded %zu bytes with the second backend, %zu before",
          fake_gpu_uploaded_bytes(f, wq->data), once);
    CHECK(mot_cuda_backend_stats_of(b.backend)->weight_bytes == 0, "shared weights: the borrower uploaded %zu bytes",
          mot_cuda_backend_stats_of(b.backend)->weight_bytes);
    mot_engine_close(&a);
    run_prompts(&b);
    MUST(mot_engine_decode(&b));
    MUST(mot_engine_decode(&b));
    CHECK(fake_gpu_errors(f) == 0, "shared weights: nothing rejected (%s)", fake_gpu_last_error(f));
    mot_engine_close(&b);
    mot_engine e;
    fake_engine(m, r, &api, &bo, &e);
    mot_backend *cpu = NULL;
    MUST(mot_backend_cpu_create(&(mot_backend_options){.kind = MOT_BACKEND_CPU}, &cpu));
    mot_backend *fresh = NULL;
    MUST(mot_backend_cuda_with_api(&bo, &api, &fresh));
    CHECK(fresh->share_weights(fresh, cpu) != MOT_OK, "shared weights: a CPU backend's refused");
    CHECK(e.backend->share_weights(e.backend, e.backend) != MOT_OK,
          "shared weights: refused after opening");
    fresh->destroy(fresh), cpu->destroy(cpu);
    mot_engine_close(&e);
    fake_gpu_destroy(f);
}

/* precision (SPEC 1.7) reaches every lane's lane_create, with the scratch that precision's
 * GEMMs use: exact widens f16/bf16 weight rows to f32 into a tile (and converts no x), fast
 * converts x to f16/bf16 (and needs no tile where nothing is quantized). One weight of lane
 * 0's expert is made bf16 (zero bytes) for the run, then restored. */
static void test_cuda_precision(const mot_model *m, const mot_route *r) {
    mot_plan_source src;
    MUST(mot_plan_source_from_route(m, r, 0, &src));
    mot_expert *ex = (mot_expert *)src.ex[0];
    mot_weight *w = &ex->layers[0].w_up;
    const mot_weight saved = *w;
    uint16_t *zeros = calloc((size_t)w->rows * (size_t)w->cols, sizeof *zeros);
    w->dtype = MOT_DTYPE_BF16;
    w->data = zeros;
    for (int fast = 0; fast <= 1; fast++) {
        fake_gpu *f = fake_gpu_create();
        mot_gpu_api api = fake_gpu_api(f);
        mot_backend_options bo = {.kind = MOT_BACKEND_CUDA, .graphs = 1, .graph_cache = 4, .precision_fast = fast};
        mot_engine e;
        fake_engine(m, r, &api, &bo, &e);
        for (int i = 0; i < e.src.n_lanes; i++) {
            CHECK(fake_gpu_lane_precision_fast(f, i) == fast, "precision %s: lane %d created with fast = %d",
                  fast ? "fast" : "exact", i, fake_gpu_lane_precision_fast(f, i));
        }
        const size_t tile = fake_gpu_lane_dequant_bytes(f, 0), elems = fake_gpu_lane_gemm_elems(f, 0);
        if (fast) {
            CHECK(tile == 0 && elems >= (size_t)w->cols * 5,
                  "fast: lane 0 (bf16) converts x (%zu elements, 5 rows of %lld) and has no tile (%zu bytes)", elems,
                  (long long)w->cols, tile);
        } else {
            CHECK(tile >= (size_t)w->cols * sizeof(float) && elems == 0,
                  "exact: lane 0 (bf16) has a widening tile of at least a row (%zu bytes) and no x scratch (%zu)",
                  tile, elems);
        }
        run_prompts(&e);
        MUST(mot_engine_decode(&e));
        MUST(mot_engine_decode(&e));
        CHECK(fake_gpu_errors(f) == 0, "precision %s run: nothing rejected (%s)", fast ? "fast" : "exact",
              fake_gpu_last_error(f));
        mot_engine_close(&e);
        fake_gpu_destroy(f);
    }
    *w = saved;
    free(zeros);
}

/* Profiling on the CUDA backend: prefill and 5 decode steps; with graphs, an eager decode, a
 * captured one and 3 replays; without, 5 eager ones. */
static void test_cuda_trace(const mot_model *m, const mot_route *r, int graphs) {
    fake_gpu *f = fake_gpu_create();
    mot_gpu_api api = fake_gpu_api(f);
    mot_trace t;
    mot_trace_init(&t);
    mot_backend_options bo = {.kind = MOT_BACKEND_CUDA, .graphs = graphs, .graph_cache = 4, .trace = &t};
    mot_engine e;
    fake_engine(m, r, &api, &bo, &e);
    run_prompts(&e);
    for (int i = 0; i < 5; i++) MUST(mot_engine_decode(&e));
    const mot_cuda_backend_stats *stats = mot_cuda_backend_stats_of(e.backend);
    CHECK(stats->graph_launches == (graphs ? 4u : 0u) && fake_gpu_errors(f) == 0,
          "graphs %d: %llu replays, no rejected call (%d: %s)", graphs, (unsigned long long)stats->graph_launches,
          fake_gpu_errors(f), fake_gpu_last_error(f));
    CHECK(t.cuda_streams == 1, "the trace knows its lanes are CUDA streams");
    /* node ranges: one per node per issued pass (prefill, eager decodes, the capture) */
    CHECK(fake_gpu_open_ranges(f) == 0, "every node range was ended (%d open)", fake_gpu_open_ranges(f));
    int marks = 0;
    for (int i = 0; fake_gpu_graph_count(f) == 1 && i < fake_gpu_graph(f, 0)->n_nodes; i++) {
        marks += fake_gpu_graph(f, 0)->nodes[i].mark != 0;
    }

    const mot_plan *plans[2];
    MUST(mot_plan_cache_get(&e.plans, &e.src, &e.layout, MOT_PHASE_PREFILL, &plans[0]));
    MUST(mot_plan_cache_get(&e.plans, &e.src, &e.layout, MOT_PHASE_DECODE, &plans[1]));
    CHECK(!graphs || marks == 1 + 2 * plans[1]->n_nodes, "the captured graph records the timed events (%d marks, %d nodes)",
          marks, plans[1]->n_nodes);
    const long issued = graphs ? 2 : 5;
    CHECK(fake_gpu_ranges_started(f) == plans[0]->n_nodes + issued * plans[1]->n_nodes,
          "%ld node ranges for %ld issued passes", fake_gpu_ranges_started(f), issued + 1);
    long overlapping = 0;
    for (int pass = 0; pass < 6; pass++) {
        const mot_plan *p = plans[pass > 0];
        int *seen = calloc((size_t)p->n_nodes, sizeof *seen), *ops = calloc((size_t)p->n_nodes, sizeof *ops);
        for (int i = 0; i < p->n_ops; i++) ops[p->ops[i].node_id]++;
        const mot_trace_slice *prev[MOT_MAX_LANES] = {0};
        for (int i = 0; i < t.n; i++) {
            const mot_trace_slice *s = &t.slices[i];
            if (s->track == MOT_TRACE_HOST || s->pass != pass) continue;
            CHECK(s->node_id >= 0 && s->node_id < p->n_nodes, "pass %d: node %d of %d", pass, s->node_id, p->n_nodes);
            if (s->node_id < 0 || s->node_id >= p->n_nodes) continue;
            seen[s->node_id]++;
            CHECK(s->dur >= ops[s->node_id] * 10e-6 - 1e-9, "pass %d node %d: %.1f us for %d launches of 10 us", pass,
                  s->node_id, s->dur * 1e6, ops[s->node_id]);
            const mot_trace_slice *q = prev[s->track];
            CHECK(!q || q->ts + q->dur <= s->ts + 1e-9, "pass %d lane %d: node slices overlap on one stream", pass,
                  s->track);
            prev[s->track] = s;
            for (int j = 0; j < i; j++) { /* lanes of one stack side by side */
                const mot_trace_slice *o = &t.slices[j];
                if (o->pass == pass && o->track != MOT_TRACE_HOST && o->track != s->track && o->stack == s->stack &&
                    !strcmp(o->name, "stack") && !strcmp(s->name, "stack") && o->ts < s->ts + s->dur &&
                    s->ts < o->ts + o->dur) {
                    overlapping++;
                }
            }
        }
        for (int n = 0; n < p->n_nodes; n++) {
            CHECK(seen[n] == 1, "pass %d (%s): node %d has %d slices", pass, graphs && pass > 2 ? "replay" : "eager", n,
                  seen[n]);
        }
        free(seen);
        free(ops);
    }
    CHECK(overlapping > 0 && e.backend->node_s[MOT_NODE_STACK] > 0.0, "stack slices of different lanes overlap (%ld)",
          overlapping);
    printf("cuda trace (graphs %s): %d slices over 6 passes, %ld overlapping cross-lane stack pairs\n",
           graphs ? "on" : "off", t.n, overlapping);
    mot_engine_close(&e);
    mot_trace_free(&t);
    fake_gpu_destroy(f);
}

/* The fake rejects what the driver rejects. */
static void test_fake_rejects(void) {
    fake_gpu *f = fake_gpu_create();
    mot_gpu_api a = fake_gpu_api(f);
    void *s0, *s1, *ev, *other, *graph;
    mot_gpu_launch l = {0};
    a.stream_create(f, &s0), a.stream_create(f, &s1), a.event_create(f, &ev), a.event_create(f, &other);

    a.begin_capture(f, s0);
    a.event_record(f, ev, s0);
    a.stream_wait_event(f, s1, ev);
    a.launch(f, &l, 1, s1);
    CHECK(a.end_capture(f, s0, &graph) != 0 && strstr(fake_gpu_last_error(f), "not joined"),
          "unjoined stream: %s", fake_gpu_last_error(f));

    a.event_record(f, other, s1); /* outside any capture */
    a.begin_capture(f, s0);
    CHECK(a.stream_wait_event(f, s0, other) != 0 && strstr(fake_gpu_last_error(f), "not recorded"),
          "wait on an event from outside the capture: %s", fake_gpu_last_error(f));
    CHECK(a.stream_synchronize(f, s0) != 0 && strstr(fake_gpu_last_error(f), "synchronize"), "sync in capture");
    void *mem;
    CHECK(a.alloc(f, 64, &mem) != 0, "allocation in capture");
    CHECK(a.launch(f, &l, 1, s1) != 0, "launch on a stream outside the capture");
    CHECK(a.end_capture(f, s0, &graph) == 0, "an empty capture is fine");

    /* A proper fork/join is accepted. */
    a.begin_capture(f, s0);
    a.event_record(f, ev, s0);
    a.stream_wait_event(f, s1, ev);
    a.launch(f, &l, 1, s1);
    a.event_record(f, other, s1);
    a.stream_wait_event(f, s0, other);
    CHECK(a.end_capture(f, s0, &graph) == 0, "joined fork accepted: %s", fake_gpu_last_error(f));
    fake_gpu_destroy(f);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_scheduler PIPELINE.yaml\n");
        return 2;
    }
    mot_model *m;
    mot_route r;
    MUST(mot_model_load(argv[1], 1, &m));
    MUST(mot_route_prompt(m, NULL, "a,b,c", NULL, 0, &r));
    test_plans(m, &r);
    test_listener_plans(m, &r);
    test_two_query_plans(m, &r);
    test_fusion(m, &r);
    test_fused_logits(m, &r);
    test_cpu_lanes(m, &r);
    test_cuda_executor(m, &r);
    test_cuda_quant_upload(m, &r);
    test_cuda_shared_weights(m, &r);
    test_cuda_precision(m, &r);
    test_cuda_trace(m, &r, 1);
    test_cuda_trace(m, &r, 0);
    test_fake_rejects();
    /* the lanes side by side, and the CUDA executor's hazards and captures, with a second
     * attention per stack queried by lane 1 */
    mot_graph plain = m->graph, two = two_query_graph(&m->graph);
    m->graph = two;
    printf("-- with query: 1 attentions:\n");
    test_cpu_lanes(m, &r);
    test_cuda_executor(m, &r);
    m->graph = plain;
    free(two.nodes);
    mot_route_free(&r);
    mot_model_free(m);
    printf("%s (%d failures)\n", failures ? "FAILED" : "all passed", failures);
    return failures ? 1 : 0;
}
