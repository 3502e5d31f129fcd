/* The CUDA executor, written against the mot_gpu_api table (kernels/cuda/gpu_api.h) so that the
 * tests can run it on a recording fake.
 *
 * A pass issues the plan's program between a fork and a join on an origin stream: RUN is a
 * launch on the lane's stream, RECORD/WAIT are cudaEventRecord/cudaStreamWaitEvent. Decode
 * plans are captured into a CUDA Graph on their key's second use (the first use is eager and
 * warms every GEMM shape up), then each step is one graph launch. A failed capture marks the
 * key eager-only. Prefill runs eagerly: its GEMM sizes change with the prompt.
 * Graphs are kept per plan key (routed set, phase, arena generation), LRU-bounded.
 * Profiling (a trace or node timing): each plan node's first op is preceded and its last op
 * followed by a timed event on its lane's stream, and one on the origin stream marks the pass
 * start; these are graph nodes too, so eager passes and graph replays are both timed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/progress.h"
#include "executor/backend.h"
#include "executor/cuda_backend.h"
#include "executor/cuda_module.h"
#include "profiling/trace.h"
#include "scheduler/plan_cache.h"

typedef struct {
    const void *host;
    void *dev;
    size_t bytes, off; /* off: in the weights' one device block */
} dev_copy;

/* Uploaded weights: the host ranges and the one device block that holds them. Counted
 * references: a backend that shares another's (share_weights) holds one, so either may be
 * destroyed first. */
typedef struct {
    int refs;
    dev_copy *copies;
    int n, cap;
    char *block;  /* copies[i].dev point into it */
    size_t bytes; /* the block's size (each copy 256-byte aligned) */
} dev_weights;

typedef struct {
    mot_plan_key key;
    uint64_t plan_id;         /* the plan it was bound from (a recompiled plan is a new id) */
    mot_gpu_launch *launches; /* [n_ops] bound to the arena and the device weights */
    mot_plan_op *bound_ops;   /* [n_ops] the plan's ops with device f32 vectors (launches[i].op) */
    char (*names)[64];        /* [n_ops] profiler range names */
    /* plan nodes: where each starts and ends in the program, its NVTX range */
    int *node_first, *node_last;  /* [n_nodes] op index of the node's first / last RUN */
    char (*node_names)[64];       /* [n_nodes] "stack e1 q2": the trace slice's name first */
    uint64_t *node_ranges;        /* [n_nodes] NVTX range ids while issuing */
    unsigned char *node_open;     /* [n_nodes] range started and not yet ended */
    int n_nodes;
    /* profiling: marks[0] the pass start, marks[1 + 2n] / [2 + 2n] node n's begin / end */
    void **marks;
    int n_marks;
    int n_ops;
    int uses;
    int eager_only;
    void *graph, *exec;
    uint64_t last_use;
} graph_entry;

typedef struct {
    mot_backend base;
    mot_backend_options opt;
    mot_gpu_api api;
    void *origin;
    void *streams[MOT_MAX_LANES];
    void *fork_event, *join_events[MOT_MAX_LANES];
    void **events;
    int n_events;
    int n_lanes;
    char *arena;
    size_t arena_bytes;
    dev_weights *own;    /* what this backend uploaded */
    dev_weights *shared; /* another backend's, used where own lacks a weight (NULL: none) */
    mot_sampler *samplers;
    /* repetition penalties, per lane whose sampler has them (else NULL): the penalized logits
     * [vocab] and the window's list [1 + 2 vocab] on the device, the list's host staging */
    float *pen[MOT_MAX_LANES];
    int *pen_list[MOT_MAX_LANES], *pen_host[MOT_MAX_LANES];
    const mot_plan_source *src;
    const mot_arena_layout *layout;
    mot_step_state host_step; /* mirror of the step state (prefill GEMM sizes) */
    graph_entry *graphs;
    int n_graphs;
    uint64_t clock;
    mot_cuda_backend_stats stats;
} cuda_backend;

static mot_status api_fail(const char *what) {
    /* The api set the reason; say which step it failed in (copied: mot_fail rewrites it). */
    char reason[512];
    snprintf(reason, sizeof reason, "%s", mot_last_error() ? mot_last_error() : "");
    return mot_fail(MOT_ERR_INTERNAL, "cuda backend: %s%s%s", what, *reason ? ": " : "", reason);
}

#define API(call, what)                                                                        \
    do {                                                                                       \
        if ((call) != 0) {                                                                     \
            return api_fail(what);                                                             \
        }                                                                                      \
    } while (0)

/* ---- weights: uploaded once, found by their host address ----
 * Opening walks the weights once to list them (upload() records host, size and offset), makes
 * one device block for all (one allocation, not one cudaMalloc + memset + device sync per
 * tensor), then copies them in order with a progress line (common/progress.h). */
#define WEIGHT_ALIGN 256

/* The device address of host address `host` in w: a copy's start (inside = 0) or inside one
 * (inside = 1: the training plans' ops point into the trainable values, copied whole as the
 * source's `extra`); NULL when w has none. */
static void *copy_in(const dev_weights *w, const void *host, int inside) {
    for (int i = 0; w && i < w->n; i++) {
        const dev_copy *d = &w->copies[i];
        const char *h = d->host;
        if (!d->dev) continue;
        if (inside ? (const char *)host > h && (const char *)host < h + d->bytes : d->host == host) {
            return (char *)d->dev + ((const char *)host - h);
        }
    }
    return NULL;
}

static void *find_copy(const cuda_backend *c, const void *host) {
    void *d = copy_in(c->own, host, 0);
    if (!d) d = copy_in(c->shared, host, 0);
    if (!d) d = copy_in(c->own, host, 1);
    if (!d) d = copy_in(c->shared, host, 1);
    return d;
}

static int listed_in(const dev_weights *w, const void *host) {
    for (int i = 0; w && i < w->n; i++) {
        if (w->copies[i].host == host) {
            return 1;
        }
    }
    return 0;
}

/* Lists a weight (once per host address: tied embeddings are one; none that the shared
 * weights hold). */
static mot_status upload(cuda_backend *c, const void *host, size_t bytes) {
    dev_weights *w = c->own;
    if (!host || listed_in(w, host) || listed_in(c->shared, host)) {
        return MOT_OK;
    }
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 256;
        dev_copy *p = realloc(w->copies, (size_t)cap * sizeof *p);
        if (!p) {
            return mot_fail(MOT_ERR_NOMEM, "cuda backend: out of host memory");
        }
        w->copies = p, w->cap = cap;
    }
    w->copies[w->n++] = (dev_copy){host, NULL, bytes, w->bytes};
    w->bytes += (bytes + WEIGHT_ALIGN - 1) & ~(size_t)(WEIGHT_ALIGN - 1);
    return MOT_OK;
}

/* Drops a reference; the last frees the block (device memory belongs to the process: any
 * context of the same table frees it). */
static void weights_release(cuda_backend *c, dev_weights *w) {
    if (!w || --w->refs > 0) {
        return;
    }
    if (w->block) c->api.free(c->api.ctx, w->block);
    free(w->copies);
    free(w);
}

/* Every dtype as stored: ggml's quantized weights as their raw blocks, rows of
 * mot_dtype_row_bytes bytes, which kernels/cuda/quant.cu reads (a cudaMalloc'd copy starts
 * 16-byte aligned, as its GEMV's loads need). */
static mot_status upload_weight(cuda_backend *c, const mot_weight *w) {
    if (mot_dtype_is_quantized(w->dtype) && w->cols % mot_dtype_block_elems(w->dtype)) {
        return mot_fail(MOT_ERR_ARG, "cuda backend: a %s weight of %lld columns (not whole blocks of %d)",
                        mot_dtype_name(w->dtype), (long long)w->cols, mot_dtype_block_elems(w->dtype));
    }
    return upload(c, w->data, (size_t)w->rows * mot_dtype_row_bytes(w->dtype, w->cols));
}
static mot_status upload_floats(cuda_backend *c, const float *v, size_t n) { return upload(c, v, n * sizeof(float)); }
static mot_status upload_linear(cuda_backend *c, const mot_linear *l) {
    MOT_TRY(upload_weight(c, &l->w));
    return upload_floats(c, l->bias, (size_t)l->w.rows);
}

static mot_status upload_expert(cuda_backend *c, const mot_expert *ex) {
    const mot_config *cfg = &ex->cfg;
    MOT_TRY(upload_weight(c, &ex->embed));
    MOT_TRY(upload_weight(c, &ex->lm_head));
    MOT_TRY(upload_floats(c, ex->final_norm, (size_t)cfg->hidden));
    MOT_TRY(upload_floats(c, ex->inv_freq, (size_t)cfg->head_dim / 2));
    for (int l = 0; l < cfg->n_layers; l++) {
        const mot_layer_weights *L = &ex->layers[l];
        MOT_TRY(upload_floats(c, L->attn_norm, (size_t)cfg->hidden));
        MOT_TRY(upload_floats(c, L->ffn_norm, (size_t)cfg->hidden));
        const mot_weight *w[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int j = 0; j < 7; j++) {
            MOT_TRY(upload_weight(c, w[j]));
        }
    }
    return MOT_OK;
}

static mot_status upload_interaction(cuda_backend *c, const mot_plan_source *src) {
    for (int q = 0; q < src->stacks; q++) {
        const mot_interaction_weights *iw = &src->inter[q];
        for (int i = 0; i < src->n_lanes; i++) {
            MOT_TRY(upload_linear(c, &iw->forward[src->expert[i]]));
            MOT_TRY(upload_linear(c, &iw->reverse[src->expert[i]]));
        }
        const mot_linear *qkvo[4] = {&iw->q, &iw->k, &iw->v, &iw->o};
        for (int j = 0; j < 4; j++) {
            MOT_TRY(upload_linear(c, qkvo[j]));
        }
        MOT_TRY(upload_floats(c, iw->norm_weight, (size_t)src->shared_dim));
        MOT_TRY(upload_floats(c, iw->norm_bias, (size_t)src->shared_dim));
    }
    return MOT_OK;
}

/* The experts a lane may run: its own, and the source's pool (training) after it. */
static int lane_expert_count(const mot_plan_source *src) { return 1 + (src->pool ? src->n_pool : 0); }
static const mot_expert *lane_expert(const mot_plan_source *src, int lane, int i) {
    return i == 0 ? src->ex[lane] : src->pool[i - 1];
}

/* The widest input (cols) of a lane's GEMMs: its experts' and the interaction's. */
static size_t widest_input(const mot_plan_source *src, int lane) {
    size_t widest = (size_t)src->shared_dim;
    for (int i = 0; i < lane_expert_count(src); i++) {
        const mot_config *cfg = &lane_expert(src, lane, i)->cfg;
        if ((size_t)cfg->hidden > widest) widest = (size_t)cfg->hidden;
        if ((size_t)cfg->ffn > widest) widest = (size_t)cfg->ffn;
        if ((size_t)cfg->n_heads * cfg->head_dim > widest) widest = (size_t)cfg->n_heads * cfg->head_dim;
    }
    return widest;
}

static int lane_has_quantized(const mot_plan_source *src, int lane) {
    int any = 0;
    for (int i = 0; i < lane_expert_count(src) && !any; i++) any = mot_expert_has_quantized(lane_expert(src, lane, i));
    return any;
}

static int lowp_linear(const mot_linear *l) { return l->w.dtype == MOT_DTYPE_F16 || l->w.dtype == MOT_DTYPE_BF16; }

/* Whether a lane may run a GEMM over f16/bf16 weights: its expert's, or any interaction
 * weight (the interaction ops may be issued on any lane). */
static int lane_has_lowp(const mot_plan_source *src, int lane) {
    int any = 0;
    for (int i = 0; i < lane_expert_count(src) && !any; i++) any = mot_expert_has_lowp(lane_expert(src, lane, i));
    for (int q = 0; q < src->stacks && !any; q++) {
        const mot_interaction_weights *iw = &src->inter[q];
        any = lowp_linear(&iw->q) || lowp_linear(&iw->k) || lowp_linear(&iw->v) || lowp_linear(&iw->o);
        for (int i = 0; i < src->n_lanes && !any; i++) {
            any = lowp_linear(&iw->forward[src->expert[i]]) || lowp_linear(&iw->reverse[src->expert[i]]);
        }
    }
    return any;
}

/* The largest x a lane's GEMMs convert to f16/bf16 (precision fast): rows x widest input;
 * 0 in exact precision, where nothing is converted. */
static size_t max_gemm_elems(const mot_plan_source *src, int lane, int fast) {
    return fast ? widest_input(src, lane) * (size_t)src->max_rows[lane] : 0;
}

/* The tile a lane's GEMMs widen weight rows into (prefill past the GEMVs): f32 over quantized
 * weights in exact and over f16/bf16 in exact, bf16 (twice the rows) over quantized weights
 * in fast. 64 f32 rows of the widest input, at least 16 MiB so that the GEMMs are large; 0
 * when the lane has no such GEMM. */
#define DEQUANT_TILE_MIN_BYTES ((size_t)16 << 20)
static size_t dequant_tile_bytes(const mot_plan_source *src, int lane, int fast) {
    if (!lane_has_quantized(src, lane) && (fast || !lane_has_lowp(src, lane))) {
        return 0;
    }
    const size_t bytes = 64 * widest_input(src, lane) * sizeof(float);
    return bytes > DEQUANT_TILE_MIN_BYTES ? bytes : DEQUANT_TILE_MIN_BYTES;
}

/* The listed weights into one device block, in order, with progress. */
static mot_status upload_all(cuda_backend *c) {
    dev_weights *w = c->own;
    if (w->n == 0) {
        return MOT_OK;
    }
    if (c->api.alloc(c->api.ctx, w->bytes, (void **)&w->block) != 0) {
        char what[96];
        snprintf(what, sizeof what, "allocating %.2f GB for the weights", (double)w->bytes / 1e9);
        return api_fail(what);
    }
    size_t total = 0, done = 0;
    for (int i = 0; i < w->n; i++) {
        total += w->copies[i].bytes;
    }
    mot_progress progress;
    mot_progress_begin(&progress, "uploaded", "the weights to the GPU", total);
    for (int i = 0; i < w->n; i++) {
        dev_copy *d = &w->copies[i];
        d->dev = w->block + d->off;
        if (c->api.copy_h2d(c->api.ctx, d->dev, d->host, d->bytes, c->origin) != 0) {
            mot_progress_end(&progress);
            return api_fail("uploading weights");
        }
        done += d->bytes;
        mot_progress_update(&progress, done);
    }
    API(c->api.stream_synchronize(c->api.ctx, c->origin), "uploading weights");
    mot_progress_end(&progress);
    c->stats.weight_bytes += total;
    return MOT_OK;
}

static void penalty_buffers_free(cuda_backend *c) {
    for (int i = 0; i < MOT_MAX_LANES; i++) {
        if (c->pen[i]) c->api.free(c->api.ctx, c->pen[i]);
        if (c->pen_list[i]) c->api.free(c->api.ctx, c->pen_list[i]);
        free(c->pen_host[i]);
        c->pen[i] = NULL, c->pen_list[i] = NULL, c->pen_host[i] = NULL;
    }
}

/* The penalties' buffers of every lane whose sampler penalizes (the lanes' vocabularies are
 * the routed set's: made again at each open). */
static mot_status penalty_buffers(cuda_backend *c) {
    penalty_buffers_free(c);
    for (int i = 0; i < c->src->n_lanes; i++) {
        if (!mot_sampler_penalizes(&c->samplers[i].params)) {
            continue;
        }
        const size_t vocab = (size_t)c->src->ex[i]->cfg.vocab;
        API(c->api.alloc(c->api.ctx, vocab * sizeof(float), (void **)&c->pen[i]), "allocating the penalized logits");
        API(c->api.alloc(c->api.ctx, (1 + 2 * vocab) * sizeof(int), (void **)&c->pen_list[i]),
            "allocating the penalties' token list");
        if (!(c->pen_host[i] = malloc((1 + 2 * vocab) * sizeof(int)))) {
            return mot_fail(MOT_ERR_NOMEM, "cuda backend: out of host memory");
        }
    }
    return MOT_OK;
}

/* Before a pass: each penalizing lane's window as (token, count) pairs into its device list
 * (on the origin stream, ahead of the pass's work; the host copy stays untouched until the
 * pass has synchronized). */
static mot_status upload_penalties(cuda_backend *c) {
    for (int i = 0; i < c->src->n_lanes; i++) {
        if (!c->pen_list[i]) {
            continue;
        }
        int *h = c->pen_host[i];
        h[0] = mot_sampler_penalty_pairs(&c->samplers[i], h + 1);
        API(c->api.copy_h2d(c->api.ctx, c->pen_list[i], h, (1 + 2 * (size_t)h[0]) * sizeof(int), c->origin),
            "copying the penalties' tokens to the device");
    }
    return MOT_OK;
}

/* open again (backend.h): a new zeroed arena for the layout; the lanes and weights stay. The
 * bound plans point into the old arena: forgotten. */
static mot_status cuda_reopen(cuda_backend *c, const mot_plan_source *src, const mot_arena_layout *layout,
                              mot_sampler *samplers) {
    if (src->n_lanes > c->n_lanes) {
        return mot_fail(MOT_ERR_INTERNAL, "cuda backend: reopened with %d lanes, opened with %d", src->n_lanes,
                        c->n_lanes);
    }
    API(c->api.stream_synchronize(c->api.ctx, c->origin), "reopening");
    for (int i = 0; i < c->n_lanes; i++) { /* a failed pass may have left work on a lane */
        API(c->api.stream_synchronize(c->api.ctx, c->streams[i]), "reopening");
    }
    mot_cuda_backend_drop_graphs(&c->base);
    c->api.free(c->api.ctx, c->arena);
    c->arena = NULL;
    c->src = src, c->layout = layout, c->samplers = samplers;
    API(c->api.alloc(c->api.ctx, layout->bytes, (void **)&c->arena), "allocating the arena");
    c->arena_bytes = layout->bytes;
    return penalty_buffers(c);
}

/* samplers_changed (backend.h): the bound launches and captured graphs carry the old
 * temperature, top-k/p, min-p and penalties; the penalties' buffers exist only for lanes
 * that penalize. */
static mot_status cuda_samplers_changed(mot_backend *b) {
    cuda_backend *c = (cuda_backend *)b;
    API(c->api.stream_synchronize(c->api.ctx, c->origin), "changing the samplers");
    mot_cuda_backend_drop_graphs(b);
    return penalty_buffers(c);
}

static mot_status cuda_open(mot_backend *b, const mot_plan_source *src, const mot_arena_layout *layout,
                            mot_sampler *samplers) {
    cuda_backend *c = (cuda_backend *)b;
    if (c->arena) {
        return cuda_reopen(c, src, layout, samplers);
    }
    if ((c->opt.trace || c->opt.timing) && !(c->api.timer_create && c->api.timer_record && c->api.timer_elapsed)) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "cuda backend: %s has no timed events to profile with", c->api.name);
    }
    if (c->opt.trace) {
        c->opt.trace->cuda_streams = 1; /* lane tracks are the lanes' CUDA streams */
    }
    c->src = src, c->layout = layout, c->samplers = samplers;
    c->n_lanes = src->n_lanes;
    API(c->api.stream_create(c->api.ctx, &c->origin), "creating the origin stream");
    API(c->api.event_create(c->api.ctx, &c->fork_event), "creating an event");
    for (int i = 0; i < src->n_lanes; i++) {
        API(c->api.stream_create(c->api.ctx, &c->streams[i]), "creating a lane stream");
        API(c->api.event_create(c->api.ctx, &c->join_events[i]), "creating an event");
        const int fast = c->opt.precision_fast;
        API(c->api.lane_create(c->api.ctx, i, c->streams[i], max_gemm_elems(src, i, fast),
                               dequant_tile_bytes(src, i, fast), fast),
            "creating a lane's cuBLAS handle");
    }
    API(c->api.alloc(c->api.ctx, layout->bytes, (void **)&c->arena), "allocating the arena");
    c->arena_bytes = layout->bytes;
    for (int i = 0; i < src->n_lanes; i++) {
        MOT_TRY(upload_expert(c, src->ex[i]));
    }
    for (int i = 0; src->pool && i < src->n_pool; i++) {
        MOT_TRY(upload_expert(c, src->pool[i]));
    }
    MOT_TRY(upload_interaction(c, src));
    MOT_TRY(upload(c, src->extra, src->extra_bytes));
    MOT_TRY(penalty_buffers(c));
    return upload_all(c);
}

/* update (backend.h): into this backend's copy or the shared one, whichever holds it (the
 * shared owner's passes have completed: execute returns when they have). */
static mot_status cuda_update(mot_backend *b, const void *host, size_t bytes) {
    cuda_backend *c = (cuda_backend *)b;
    for (int i = 0; i < c->n_lanes; i++) { /* nothing may still read the old values */
        API(c->api.stream_synchronize(c->api.ctx, c->streams[i]), "copying changed weights to the device");
    }
    const dev_weights *sets[2] = {c->own, c->shared};
    for (int s = 0; s < 2; s++) {
        for (int i = 0; sets[s] && i < sets[s]->n; i++) {
            const dev_copy *d = &sets[s]->copies[i];
            const char *h = d->host;
            if ((const char *)host >= h && (const char *)host + bytes <= h + d->bytes && d->dev) {
                API(c->api.copy_h2d(c->api.ctx, (char *)d->dev + ((const char *)host - h), host, bytes, c->origin),
                    "copying changed weights to the device");
                API(c->api.stream_synchronize(c->api.ctx, c->origin), "copying changed weights to the device");
                return MOT_OK;
            }
        }
    }
    return mot_fail(MOT_ERR_INTERNAL, "cuda backend: update of %zu bytes that were never uploaded", bytes);
}

/* share_weights (backend.h): before open, take a reference to owner's uploads. */
static mot_status cuda_share_weights(mot_backend *b, mot_backend *owner) {
    cuda_backend *c = (cuda_backend *)b, *o = (cuda_backend *)owner;
    if (c->arena) {
        return mot_fail(MOT_ERR_INTERNAL, "cuda backend: weights shared after opening");
    }
    if (owner->share_weights != cuda_share_weights || o->api.alloc != c->api.alloc || o->api.free != c->api.free) {
        return mot_fail(MOT_ERR_INTERNAL, "cuda backend: weights shared with a backend of another kind");
    }
    weights_release(c, c->shared);
    c->shared = o->own;
    c->shared->refs++;
    return MOT_OK;
}

static mot_status cuda_write(mot_backend *b, mot_buf dst, const void *src) {
    cuda_backend *c = (cuda_backend *)b;
    if (dst.off == c->layout->step.off && dst.bytes == sizeof(mot_step_state)) {
        memcpy(&c->host_step, src, sizeof c->host_step);
    }
    API(c->api.copy_h2d(c->api.ctx, c->arena + dst.off, src, dst.bytes, c->origin), "copying to the device");
    API(c->api.stream_synchronize(c->api.ctx, c->origin), "copying to the device");
    return MOT_OK;
}

static mot_status cuda_read(mot_backend *b, mot_buf src, void *dst) {
    cuda_backend *c = (cuda_backend *)b;
    API(c->api.copy_d2h(c->api.ctx, dst, c->arena + src.off, src.bytes, c->origin), "copying from the device");
    API(c->api.stream_synchronize(c->api.ctx, c->origin), "copying from the device");
    if (src.off == c->layout->step.off && src.bytes == sizeof(mot_step_state)) {
        memcpy(&c->host_step, dst, sizeof c->host_step);
    }
    return MOT_OK;
}

/* ---- binding a plan to device memory ---- */

/* Where each plan node starts and ends in the program, and its NVTX range name. */
static mot_status bind_nodes(const mot_plan *p, graph_entry *g) {
    const size_t n = (size_t)p->n_nodes;
    g->n_nodes = p->n_nodes;
    g->node_first = malloc(n * sizeof *g->node_first);
    g->node_last = malloc(n * sizeof *g->node_last);
    g->node_names = calloc(n, sizeof *g->node_names);
    g->node_ranges = calloc(n, sizeof *g->node_ranges);
    g->node_open = calloc(n, sizeof *g->node_open);
    if (!g->node_first || !g->node_last || !g->node_names || !g->node_ranges || !g->node_open) {
        return mot_fail(MOT_ERR_NOMEM, "cuda backend: out of host memory");
    }
    for (int k = 0; k < p->n_nodes; k++) {
        g->node_first[k] = g->node_last[k] = -1;
    }
    for (int i = 0; i < p->n_instrs; i++) {
        if (p->prog[i].kind == MOT_INSTR_RUN) {
            const int op = p->prog[i].arg, k = p->ops[op].node_id;
            if (g->node_first[k] < 0) g->node_first[k] = op;
            g->node_last[k] = op;
        }
    }
    for (int k = 0; k < p->n_nodes; k++) {
        const mot_plan_op *op = g->node_first[k] >= 0 ? &p->ops[g->node_first[k]] : NULL;
        if (op) {
            snprintf(g->node_names[k], sizeof g->node_names[k], "%s e%d q%d%s", mot_node_kind_name(op->node),
                     op->expert, op->stack, op->node == MOT_NODE_PROJECTOR && op->reverse ? " reverse" : "");
        }
    }
    return MOT_OK;
}

/* Profiling: the timed events (made here, before any capture; a captured graph records
 * exactly these). */
static mot_status bind_marks(cuda_backend *c, const mot_plan *p, graph_entry *g) {
    g->marks = calloc((size_t)(1 + 2 * p->n_nodes), sizeof *g->marks);
    if (!g->marks) {
        return mot_fail(MOT_ERR_NOMEM, "cuda backend: out of host memory");
    }
    g->n_marks = 1 + 2 * p->n_nodes;
    for (int m = 0; m < g->n_marks; m++) {
        API(c->api.timer_create(c->api.ctx, &g->marks[m]), "creating a timed event");
    }
    return MOT_OK;
}

static mot_status bind(cuda_backend *c, const mot_plan *p, graph_entry *g) {
    g->launches = calloc((size_t)p->n_ops, sizeof *g->launches);
    g->names = calloc((size_t)p->n_ops, sizeof *g->names);
    g->bound_ops = calloc((size_t)p->n_ops, sizeof *g->bound_ops);
    if (!g->launches || !g->names || !g->bound_ops) {
        return mot_fail(MOT_ERR_NOMEM, "cuda backend: out of host memory");
    }
    g->n_ops = p->n_ops;
    for (int i = 0; i < p->n_ops; i++) {
        const mot_plan_op *op = &p->ops[i];
        mot_gpu_launch *l = &g->launches[i];
        mot_plan_op *bound = &g->bound_ops[i];
        memcpy(bound, op, sizeof *bound); /* bytes and all: captures compare equal */
        l->op = bound;
        l->arena = c->arena;
        l->step = (mot_step_state *)(c->arena + c->layout->step.off);
        for (int j = 0; j < op->n_w; j++) {
            l->w[j] = *op->w[j];
            l->w[j].data = find_copy(c, op->w[j]->data);
            l->bias[j] = find_copy(c, op->bias[j]);
            if (!l->w[j].data || (op->bias[j] && !l->bias[j])) {
                return mot_fail(MOT_ERR_INTERNAL, "cuda backend: op %d (%s) uses a weight that was not uploaded", i,
                                mot_op_kind_name(op->kind));
            }
        }
        const float **vec[2];
        int64_t vec_len[2];
        for (int v = mot_plan_op_vectors(bound, vec, vec_len) - 1; v >= 0; v--) {
            *vec[v] = find_copy(c, *vec[v]);
        }
        l->max_rows = c->src->max_rows[op->lane];
        l->rows = 1;
        l->vocab = c->src->ex[op->lane]->cfg.vocab;
        const mot_sampler_params *sp = &c->samplers[op->lane].params;
        l->temperature = sp->temperature, l->top_k = sp->top_k, l->top_p = sp->top_p, l->min_p = sp->min_p;
        if (op->kind == MOT_OP_SAMPLE && c->pen_list[op->lane]) {
            l->pen_list = c->pen_list[op->lane], l->pen = c->pen[op->lane];
            l->repeat_penalty = sp->repeat_penalty, l->presence_penalty = sp->presence_penalty;
            l->frequency_penalty = sp->frequency_penalty;
        }
        snprintf(g->names[i], sizeof g->names[i], "%s %s e%d q%d l%d", mot_node_kind_name(op->node),
                 mot_op_kind_name(op->kind), op->expert, op->stack, op->layer);
    }
    MOT_TRY(bind_nodes(p, g));
    return c->opt.trace || c->opt.timing ? bind_marks(c, p, g) : MOT_OK;
}

static void entry_free(cuda_backend *c, graph_entry *g) {
    if (g->graph || g->exec) {
        c->api.graph_destroy(c->api.ctx, g->graph, g->exec);
    }
    for (int m = 0; m < g->n_marks; m++) {
        if (g->marks[m]) c->api.event_destroy(c->api.ctx, g->marks[m]);
    }
    free(g->marks);
    free(g->node_first);
    free(g->node_last);
    free(g->node_names);
    free(g->node_ranges);
    free(g->node_open);
    free(g->launches);
    free(g->bound_ops);
    free(g->names);
    memset(g, 0, sizeof *g);
}

/* The entry for p's key: found, or made (evicting the least recently used when full). */
static mot_status entry_for(cuda_backend *c, const mot_plan *p, graph_entry **out) {
    const int cap = c->opt.graph_cache > 0 ? c->opt.graph_cache : 8;
    for (int i = 0; i < c->n_graphs; i++) {
        if (c->graphs[i].launches && c->graphs[i].plan_id == p->id) {
            *out = &c->graphs[i];
            (*out)->last_use = ++c->clock;
            return MOT_OK;
        }
    }
    int slot = c->n_graphs;
    for (int i = 0; i < c->n_graphs; i++) {
        if (!c->graphs[i].launches) {
            slot = i; /* an entry whose binding failed: free */
        }
    }
    if (slot == c->n_graphs && c->n_graphs == cap) {
        slot = 0;
        for (int i = 1; i < c->n_graphs; i++) {
            if (c->graphs[i].last_use < c->graphs[slot].last_use) slot = i;
        }
        entry_free(c, &c->graphs[slot]);
        c->stats.graph_evictions++;
    } else if (slot == c->n_graphs) {
        c->n_graphs++;
    }
    graph_entry *g = &c->graphs[slot];
    memset(g, 0, sizeof *g);
    g->key = p->key;
    g->plan_id = p->id;
    g->last_use = ++c->clock;
    *out = g;
    mot_status st = bind(c, p, g);
    if (st != MOT_OK) {
        entry_free(c, g); /* never left half bound */
    }
    return st;
}

/* ---- issuing a program ---- */

static mot_status ensure_events(cuda_backend *c, int n) {
    if (n <= c->n_events) {
        return MOT_OK;
    }
    void **ev = realloc(c->events, (size_t)n * sizeof *ev);
    if (!ev) {
        return mot_fail(MOT_ERR_NOMEM, "cuda backend: out of host memory");
    }
    c->events = ev;
    for (; c->n_events < n; c->n_events++) {
        API(c->api.event_create(c->api.ctx, &c->events[c->n_events]), "creating an event");
    }
    return MOT_OK;
}

/* fork from origin, the program on the lane streams, join back into origin; `capturing`:
 * inside a stream capture (timed events become graph nodes then) */
static mot_status issue_program(cuda_backend *c, const mot_plan *p, graph_entry *g, int capturing) {
    void *ctx = c->api.ctx;
    if (g->marks) {
        API(c->api.timer_record(ctx, g->marks[0], c->origin, capturing), "recording the pass start");
    }
    API(c->api.event_record(ctx, c->fork_event, c->origin), "recording the fork");
    for (int i = 0; i < p->key.n_lanes; i++) {
        API(c->api.stream_wait_event(ctx, c->streams[i], c->fork_event), "forking a lane");
    }
    for (int i = 0; i < p->n_instrs; i++) {
        const mot_instr *in = &p->prog[i];
        void *stream = c->streams[in->lane];
        if (in->kind == MOT_INSTR_RUN) {
            const int n = p->ops[in->arg].node_id;
            if (g->node_first[n] == in->arg) {
                g->node_ranges[n] = c->api.range_start(ctx, g->node_names[n]);
                g->node_open[n] = 1;
                if (g->marks) {
                    API(c->api.timer_record(ctx, g->marks[1 + 2 * n], stream, capturing), "recording a node start");
                }
            }
            c->api.range(ctx, g->names[in->arg]);
            int rc = c->api.launch(ctx, &g->launches[in->arg], in->lane, stream);
            c->api.range(ctx, NULL);
            if (rc != 0) {
                return api_fail(g->names[in->arg]);
            }
            if (g->node_last[n] == in->arg) {
                if (g->marks) {
                    API(c->api.timer_record(ctx, g->marks[2 + 2 * n], stream, capturing), "recording a node end");
                }
                c->api.range_end(ctx, g->node_ranges[n]);
                g->node_open[n] = 0;
            }
        } else if (in->kind == MOT_INSTR_RECORD) {
            API(c->api.event_record(ctx, c->events[in->arg], stream), "recording an event");
        } else {
            API(c->api.stream_wait_event(ctx, stream, c->events[in->arg]), "waiting on an event");
        }
    }
    for (int i = 0; i < p->key.n_lanes; i++) {
        API(c->api.event_record(ctx, c->join_events[i], c->streams[i]), "recording a join");
        API(c->api.stream_wait_event(ctx, c->origin, c->join_events[i]), "joining a lane");
    }
    return MOT_OK;
}

static mot_status issue(cuda_backend *c, const mot_plan *p, graph_entry *g, int capturing) {
    const mot_status st = issue_program(c, p, g, capturing);
    for (int n = 0; n < g->n_nodes; n++) { /* a failure mid-program leaves nodes open */
        if (g->node_open[n]) {
            c->api.range_end(c->api.ctx, g->node_ranges[n]);
            g->node_open[n] = 0;
        }
    }
    return st;
}

/* Host-known GEMM sizes: one row in decode (and for the LM head), the lane's n_new in prefill. */
static void set_rows(cuda_backend *c, const mot_plan *p, graph_entry *g) {
    for (int i = 0; i < g->n_ops; i++) {
        const mot_plan_op *op = &p->ops[i];
        const int single_row = op->kind == MOT_OP_MATMUL && op->matmul.single_row;
        int rows = p->key.phase == MOT_PHASE_DECODE || single_row ? 1 : c->host_step.lane[op->lane].n_new;
        g->launches[i].rows = rows > 0 ? rows : 1;
    }
}

static mot_status capture(cuda_backend *c, const mot_plan *p, graph_entry *g) {
    void *ctx = c->api.ctx;
    if (c->api.begin_capture(ctx, c->origin) != 0) {
        return api_fail("beginning a capture");
    }
    mot_status st = issue(c, p, g, 1);
    char cause[512];
    snprintf(cause, sizeof cause, "%s", st != MOT_OK ? mot_last_error() : "");
    void *graph = NULL;
    int end_rc = c->api.end_capture(ctx, c->origin, &graph); /* always end what was begun */
    if (st != MOT_OK) {
        if (graph) c->api.graph_destroy(ctx, graph, NULL);
        return mot_fail(st, "%s", cause); /* the cause, not the capture it invalidated */
    }
    if (end_rc != 0) {
        return api_fail("ending a capture");
    }
    void *exec = NULL;
    if (c->api.graph_instantiate(ctx, graph, &exec) != 0) {
        c->api.graph_destroy(ctx, graph, NULL);
        return api_fail("instantiating a graph");
    }
    g->graph = graph, g->exec = exec;
    c->stats.captures++;
    return MOT_OK;
}

/* After a pass: one slice per node of each fed lane, at host time t_issue + its offset from
 * the pass start on the device; node timing sums the same durations. A slice runs from the
 * node's first kernel to its last on the lane's stream, so it includes any wait on another
 * lane inside the node (the primary's sampler waits for every lane's step); the CPU's
 * slices run over the same ops and include the same waits. */
static mot_status read_marks(cuda_backend *c, const mot_plan *p, const graph_entry *g, double t_issue) {
    mot_trace *t = c->opt.trace;
    for (int n = 0; n < g->n_nodes; n++) {
        if (g->node_first[n] < 0) {
            continue;
        }
        const mot_plan_op *op = &p->ops[g->node_first[n]];
        const int tokens = c->host_step.lane[op->lane].n_new;
        if (tokens <= 0) {
            continue; /* a dead lane: its kernels return at once; the CPU shows nothing either */
        }
        float start_ms, dur_ms;
        API(c->api.timer_elapsed(c->api.ctx, g->marks[0], g->marks[1 + 2 * n], &start_ms), "timing a node");
        API(c->api.timer_elapsed(c->api.ctx, g->marks[1 + 2 * n], g->marks[2 + 2 * n], &dur_ms), "timing a node");
        c->base.node_s[op->node] += dur_ms * 1e-3;
        if (t) {
            const mot_trace_slice s = {.name = mot_node_kind_name(op->node), .track = op->lane,
                                       .ts = t_issue + start_ms * 1e-3, .dur = dur_ms * 1e-3, .expert = op->expert,
                                       .stack = op->stack, .node_id = n, .reverse = op->reverse, .phase = t->phase,
                                       .pass = t->pass, .tokens = tokens};
            mot_trace_add(t, &s);
        }
    }
    return MOT_OK;
}

static mot_status cuda_execute(mot_backend *b, const mot_plan *p) {
    cuda_backend *c = (cuda_backend *)b;
    graph_entry *g;
    MOT_TRY(entry_for(c, p, &g));
    MOT_TRY(ensure_events(c, p->n_events));
    set_rows(c, p, g);
    g->uses++;
    const int graphable = p->key.phase == MOT_PHASE_DECODE && c->opt.graphs && !g->eager_only;
    if (graphable && !g->exec && g->uses >= 2) {
        if (capture(c, p, g) != MOT_OK) {
            g->eager_only = 1; /* run eagerly from now on; say why once */
            c->stats.capture_failures++;
            fprintf(stderr, "mot: CUDA Graph capture failed, decoding eagerly: %s\n", mot_last_error());
        }
    }
    MOT_TRY(upload_penalties(c));
    const double t_issue = c->opt.trace ? mot_trace_now(c->opt.trace) : 0.0;
    if (graphable && g->exec) {
        API(c->api.graph_launch(c->api.ctx, g->exec, c->origin), "launching a graph");
        c->stats.graph_launches++;
    } else {
        MOT_TRY(issue(c, p, g, 0));
        c->stats.eager_passes++;
    }
    API(c->api.stream_synchronize(c->api.ctx, c->origin), "running a pass");
    return g->marks ? read_marks(c, p, g, t_issue) : MOT_OK;
}

static void cuda_destroy(mot_backend *b) {
    cuda_backend *c = (cuda_backend *)b;
    void *ctx = c->api.ctx;
    for (int i = 0; i < c->n_graphs; i++) {
        entry_free(c, &c->graphs[i]);
    }
    free(c->graphs);
    for (int i = 0; i < c->n_events; i++) c->api.event_destroy(ctx, c->events[i]);
    free(c->events);
    weights_release(c, c->own);
    weights_release(c, c->shared);
    penalty_buffers_free(c);
    if (c->arena) c->api.free(ctx, c->arena);
    for (int i = 0; i < c->n_lanes; i++) {
        if (c->join_events[i]) c->api.event_destroy(ctx, c->join_events[i]);
        if (c->streams[i]) c->api.stream_destroy(ctx, c->streams[i]);
    }
    if (c->fork_event) c->api.event_destroy(ctx, c->fork_event);
    if (c->origin) c->api.stream_destroy(ctx, c->origin);
    if (c->api.destroy) c->api.destroy(ctx);
    free(c);
}

mot_status mot_backend_cuda_with_api(const mot_backend_options *o, const mot_gpu_api *api, mot_backend **out) {
    cuda_backend *c = calloc(1, sizeof *c);
    const int cap = o->graph_cache > 0 ? o->graph_cache : 8;
    if (!c || !(c->graphs = calloc((size_t)cap, sizeof *c->graphs)) || !(c->own = calloc(1, sizeof *c->own))) {
        if (c) free(c->graphs);
        free(c);
        return mot_fail(MOT_ERR_NOMEM, "cuda backend: out of host memory");
    }
    c->opt = *o;
    c->api = *api;
    c->own->refs = 1;
    c->base = (mot_backend){.name = "cuda", .open = cuda_open, .update = cuda_update, .share_weights = cuda_share_weights,
                            .samplers_changed = cuda_samplers_changed, .write = cuda_write, .read = cuda_read, .execute = cuda_execute, .destroy = cuda_destroy};
    *out = &c->base;
    return MOT_OK;
}

const mot_cuda_backend_stats *mot_cuda_backend_stats_of(const mot_backend *b) {
    return &((const cuda_backend *)b)->stats;
}

mot_status mot_cuda_backend_device_figures(mot_backend *b, mot_cuda_device_figures *out) {
    memset(out, 0, sizeof *out);
    cuda_backend *c = (cuda_backend *)b;
    if (strcmp(b->name, "cuda") || !c->api.copy_bandwidth || !c->api.mem_info) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "bench: backend %s has no device figures", b->name);
    }
    API(c->api.copy_bandwidth(c->api.ctx, MOT_CUDA_BENCH_COPY_BYTES, 20, &out->copy_gbs), "measuring copy bandwidth");
    API(c->api.mem_info(c->api.ctx, &out->mem_used, &out->mem_total), "reading device memory");
    out->weight_bytes = c->stats.weight_bytes;
    out->arena_bytes = c->arena_bytes;
    return MOT_OK;
}

void mot_cuda_backend_drop_graphs(mot_backend *b) {
    cuda_backend *c = (cuda_backend *)b;
    for (int i = 0; i < c->n_graphs; i++) {
        entry_free(c, &c->graphs[i]);
    }
    c->n_graphs = 0;
}

mot_status mot_backend_cuda_create(const mot_backend_options *o, mot_backend **out) {
#ifndef MOT_HAVE_CUDA_MODULE
    (void)o, (void)out;
    return mot_fail(MOT_ERR_UNSUPPORTED, "--backend cuda: this build has no CUDA backend (nvcc/cuBLAS were not found)");
#else
    mot_gpu_api api;
    MOT_TRY(mot_cuda_module_create(0, &api));
    mot_status st = mot_backend_cuda_with_api(o, &api, out);
    if (st != MOT_OK && api.destroy) {
        api.destroy(api.ctx);
    }
    return st;
#endif
}
