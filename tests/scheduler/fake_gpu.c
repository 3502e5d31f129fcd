#include "tests/scheduler/fake_gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "scheduler/plan.h"

enum { MAX_STREAMS = 64, MAX_EVENTS = 1024, MAX_TAIL = 64 };

typedef struct {
    int tail[MAX_TAIL]; /* nodes of the current graph the stream's next work depends on */
    int n_tail;
    int in_capture;
    int live;
} fake_stream;

typedef struct {
    int deps[MAX_TAIL];
    int n_deps;
    int epoch; /* capture epoch it was recorded in; 0 = outside any capture */
    int live;
    int timed;     /* made by timer_create */
    int stamped;   /* its last timed record has run */
    long run;      /* ... in this run of work (fake_gpu.runs) */
    double time;   /* simulated device time of that record, microseconds */
} fake_event;

struct fake_gpu {
    fake_stream streams[MAX_STREAMS];
    fake_event events[MAX_EVENTS];
    int n_streams, n_events;
    fake_graph current; /* eager work since the last capture, or the capture in progress */
    fake_graph last_eager; /* the last non-empty eager work a synchronize ran */
    int capturing, origin, epoch;
    int fail_next_capture;
    fake_graph *graphs;
    int n_graphs;
    int errors;
    char last_error[256];
    long launches, graph_launches;
    double clock; /* simulated device time (us): every launch takes FAKE_LAUNCH_US */
    long runs;    /* non-empty runs of work: eager work at a synchronize, a launched graph */
    uint64_t open_ranges[256], range_ids;
    int n_open_ranges;
    long ranges_started;
    struct {
        const void *src;
        size_t bytes;
    } *uploads;                              /* host-to-device copies, in order */
    int n_uploads, cap_uploads;
    size_t dequant_bytes[MOT_MAX_LANES];     /* lane_create's widening tile (exact GEMMs) */
    size_t gemm_elems[MOT_MAX_LANES];        /* lane_create's low-precision x scratch (elements) */
    int precision_fast[MOT_MAX_LANES];       /* lane_create's precision (1 fast, 0 exact) */
};

#define FAKE_LAUNCH_US 10.0

static int reject(fake_gpu *f, const char *what) {
    f->errors++;
    snprintf(f->last_error, sizeof f->last_error, "%s", what);
    mot_fail(MOT_ERR_INTERNAL, "fake gpu: %s", what);
    return 1;
}

static void tail_add(int *tail, int *n, int node) {
    for (int i = 0; i < *n; i++) {
        if (tail[i] == node) return;
    }
    if (*n < MAX_TAIL) tail[(*n)++] = node;
}

static void graph_reset(fake_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) free(g->nodes[i].deps), free((void *)g->nodes[i].launch.op);
    free(g->nodes);
    memset(g, 0, sizeof *g);
}

/* Runs a graph on the simulated device: a node starts when its dependencies have finished
 * (streams never wait for each other otherwise), a launch lasts FAKE_LAUNCH_US and a timer
 * mark stamps its event with the time it is reached. */
static void simulate(fake_gpu *f, const fake_graph *g) {
    if (g->n_nodes == 0) return;
    f->runs++;
    double *end = malloc(sizeof(double) * (size_t)(g->n_nodes + 1)), last = f->clock;
    for (int i = 0; i < g->n_nodes; i++) {
        double start = f->clock;
        for (int d = 0; d < g->nodes[i].n_deps; d++) {
            if (end[g->nodes[i].deps[d]] > start) start = end[g->nodes[i].deps[d]];
        }
        end[i] = start + (g->nodes[i].mark ? 0.0 : FAKE_LAUNCH_US);
        if (g->nodes[i].mark) {
            fake_event *e = &f->events[g->nodes[i].mark - 1];
            e->time = start, e->stamped = 1, e->run = f->runs;
        }
        if (end[i] > last) last = end[i];
    }
    f->clock = last;
    free(end);
}

static void start_graph(fake_gpu *f) {
    graph_reset(&f->current);
    for (int s = 0; s < f->n_streams; s++) {
        f->streams[s].n_tail = 0;
        f->streams[s].in_capture = 0;
    }
}

/* ---- the table ---- */

static int stream_create(void *ctx, void **stream) {
    fake_gpu *f = ctx;
    if (f->n_streams == MAX_STREAMS) return reject(f, "too many streams");
    f->streams[f->n_streams].live = 1;
    *stream = (void *)(intptr_t)(f->n_streams++ + 1);
    return 0;
}

static fake_stream *stream_of(fake_gpu *f, void *s) { return &f->streams[(intptr_t)s - 1]; }
static int stream_id(void *s) { return (int)(intptr_t)s - 1; }

static void stream_destroy(void *ctx, void *stream) { stream_of(ctx, stream)->live = 0; }

static int event_create(void *ctx, void **event) {
    fake_gpu *f = ctx;
    if (f->capturing) return reject(f, "event created inside a capture");
    if (f->n_events == MAX_EVENTS) return reject(f, "too many events");
    f->events[f->n_events].live = 1;
    *event = (void *)(intptr_t)(f->n_events++ + 1);
    return 0;
}

static fake_event *event_of(fake_gpu *f, void *e) { return &f->events[(intptr_t)e - 1]; }
static void event_destroy(void *ctx, void *event) { event_of(ctx, event)->live = 0; }

static int event_record(void *ctx, void *event, void *stream) {
    fake_gpu *f = ctx;
    fake_stream *s = stream_of(f, stream);
    if (f->capturing && !s->in_capture) return reject(f, "event recorded on a stream outside the capture");
    fake_event *e = event_of(f, event);
    memcpy(e->deps, s->tail, sizeof(int) * (size_t)s->n_tail);
    e->n_deps = s->n_tail;
    e->epoch = f->capturing ? f->epoch : 0;
    return 0;
}

static int stream_wait_event(void *ctx, void *stream, void *event) {
    fake_gpu *f = ctx;
    fake_event *e = event_of(f, event);
    fake_stream *s = stream_of(f, stream);
    if (f->capturing) {
        if (e->epoch != f->epoch) return reject(f, "wait on an event not recorded in this capture");
        s->in_capture = 1; /* the stream joins the capture */
    }
    for (int i = 0; i < e->n_deps; i++) tail_add(s->tail, &s->n_tail, e->deps[i]);
    return 0;
}

static int stream_synchronize(void *ctx, void *stream) {
    fake_gpu *f = ctx;
    if (f->capturing) return reject(f, "stream synchronize inside a capture");
    simulate(f, &f->current); /* the eager work since the last synchronize runs */
    if (f->current.n_nodes > 0) { /* kept for the tests: the graph moves, start_graph resets current */
        graph_reset(&f->last_eager);
        f->last_eager = f->current;
        memset(&f->current, 0, sizeof f->current);
    }
    start_graph(f);
    return 0;
}

static int begin_capture(void *ctx, void *stream) {
    fake_gpu *f = ctx;
    if (f->capturing) return reject(f, "capture begun inside a capture");
    start_graph(f);
    f->capturing = 1;
    f->epoch++;
    f->origin = stream_id(stream);
    stream_of(f, stream)->in_capture = 1;
    return 0;
}

int fake_graph_reaches(const fake_graph *g, int a, int b) {
    if (a == b) return 1;
    if (b < a) return 0; /* nodes only depend on earlier ones */
    char *seen = calloc((size_t)g->n_nodes, 1);
    int *stack = malloc(sizeof(int) * (size_t)(g->n_nodes + 1)), top = 0, found = 0;
    stack[top++] = b;
    while (top && !found) {
        int n = stack[--top];
        for (int i = 0; i < g->nodes[n].n_deps; i++) {
            int d = g->nodes[n].deps[i];
            if (d == a) { found = 1; break; }
            if (d > a && !seen[d]) { seen[d] = 1; stack[top++] = d; }
        }
    }
    free(seen);
    free(stack);
    return found;
}

static int end_capture(void *ctx, void *stream, void **graph) {
    fake_gpu *f = ctx;
    *graph = NULL;
    if (!f->capturing || stream_id(stream) != f->origin) return reject(f, "end of a capture on a stream that did not begin it");
    f->capturing = 0;
    const fake_stream *o = &f->streams[f->origin];
    /* Every stream that joined must have been joined back: its last work precedes the origin's. */
    for (int s = 0; s < f->n_streams; s++) {
        const fake_stream *st = &f->streams[s];
        if (s == f->origin || !st->in_capture) continue;
        for (int i = 0; i < st->n_tail; i++) {
            int joined = 0;
            for (int j = 0; j < o->n_tail && !joined; j++) joined = fake_graph_reaches(&f->current, st->tail[i], o->tail[j]);
            if (!joined) {
                start_graph(f);
                return reject(f, "capture ended with a stream not joined into the origin stream");
            }
        }
    }
    if (f->fail_next_capture) {
        f->fail_next_capture = 0;
        start_graph(f);
        return reject(f, "capture invalidated (injected)");
    }
    fake_graph *g = realloc(f->graphs, sizeof *g * (size_t)(f->n_graphs + 1));
    if (!g) return reject(f, "out of memory");
    f->graphs = g;
    f->graphs[f->n_graphs] = f->current; /* moved */
    memset(&f->current, 0, sizeof f->current);
    *graph = (void *)(intptr_t)(++f->n_graphs);
    start_graph(f);
    return 0;
}

static int graph_instantiate(void *ctx, void *graph, void **exec) {
    *exec = graph;
    return 0;
}

static int graph_launch(void *ctx, void *exec, void *stream) {
    fake_gpu *f = ctx;
    if (f->capturing) return reject(f, "graph launched inside a capture");
    f->graph_launches++;
    simulate(f, &f->graphs[(intptr_t)exec - 1]);
    return 0;
}

static void graph_destroy(void *ctx, void *graph, void *exec) {}

static int alloc(void *ctx, size_t bytes, void **dev) {
    fake_gpu *f = ctx;
    if (f->capturing) return reject(f, "allocation inside a capture");
    *dev = calloc(1, bytes ? bytes : 1);
    return *dev ? 0 : reject(f, "out of memory");
}

static void fake_free(void *ctx, void *dev) { free(dev); }

static int copy(void *ctx, void *dst, const void *src, size_t bytes, void *stream) {
    fake_gpu *f = ctx;
    if (f->capturing) return reject(f, "memory copy inside a capture");
    memcpy(dst, src, bytes);
    return 0;
}

/* As copy, and remembers what was uploaded from where (the tests check weight sizes). */
static int copy_h2d(void *ctx, void *dst, const void *src, size_t bytes, void *stream) {
    fake_gpu *f = ctx;
    if (f->n_uploads == f->cap_uploads) {
        const int cap = f->cap_uploads ? 2 * f->cap_uploads : 64;
        void *p = realloc(f->uploads, sizeof *f->uploads * (size_t)cap);
        if (!p) return reject(f, "out of memory");
        f->uploads = p, f->cap_uploads = cap;
    }
    f->uploads[f->n_uploads].src = src;
    f->uploads[f->n_uploads++].bytes = bytes;
    return copy(ctx, dst, src, bytes, stream);
}

static int lane_create(void *ctx, int lane, void *stream, size_t max_gemm_elems, size_t dequant_bytes,
                       int precision_fast) {
    fake_gpu *f = ctx;
    if (f->capturing) return reject(f, "cuBLAS handle created inside a capture");
    if (lane < 0 || lane >= MOT_MAX_LANES) return reject(f, "lane_create: lane out of range");
    f->dequant_bytes[lane] = dequant_bytes;
    f->gemm_elems[lane] = max_gemm_elems;
    f->precision_fast[lane] = precision_fast;
    return 0;
}

/* A node on the stream after its current work: a launch, or a timer mark (mark = event + 1). */
static int add_node(fake_gpu *f, void *stream, int lane, const mot_gpu_launch *l, int mark) {
    fake_stream *s = stream_of(f, stream);
    if (f->capturing && !s->in_capture) return reject(f, mark ? "timed event recorded on a stream outside the capture"
                                                              : "launch on a stream outside the capture");
    fake_graph *g = &f->current;
    fake_node *nodes = realloc(g->nodes, sizeof *nodes * (size_t)(g->n_nodes + 1));
    if (!nodes) return reject(f, "out of memory");
    g->nodes = nodes;
    fake_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->stream = stream_id(stream);
    n->lane = lane;
    n->mark = mark;
    if (l) {
        /* the op copied too: as a real graph copies kernel arguments, the executor's may go */
        mot_plan_op *op = l->op ? malloc(sizeof *op) : NULL;
        if (l->op && !op) return reject(f, "out of memory");
        if (op) memcpy(op, l->op, sizeof *op);
        n->launch = *l;
        n->launch.op = op;
    }
    n->n_deps = s->n_tail;
    n->deps = malloc(sizeof(int) * (size_t)(s->n_tail + 1));
    memcpy(n->deps, s->tail, sizeof(int) * (size_t)s->n_tail);
    s->tail[0] = g->n_nodes++;
    s->n_tail = 1;
    return 0;
}

static int launch(void *ctx, const mot_gpu_launch *l, int lane, void *stream) {
    fake_gpu *f = ctx;
    if (add_node(f, stream, lane, l, 0) != 0) return 1;
    f->launches++;
    return 0;
}

static int timer_create(void *ctx, void **event) {
    fake_gpu *f = ctx;
    if (event_create(ctx, event) != 0) return 1;
    event_of(f, *event)->timed = 1;
    return 0;
}

/* A node of the work (a graph node when captured: cudaEventRecordExternal, which CUDA
 * refuses outside a capture, and without which a captured record would stamp nothing on
 * replay). It is pending until the work it is in runs. */
static int timer_record(void *ctx, void *event, void *stream, int capturing) {
    fake_gpu *f = ctx;
    fake_event *e = event_of(f, event);
    if (!e->timed) return reject(f, "timer record on an event without timing");
    if (capturing && !f->capturing) return reject(f, "cudaEventRecordExternal outside a stream capture");
    if (!capturing && f->capturing) return reject(f, "timed event recorded in a capture without the external flag");
    e->stamped = 0;
    return add_node(f, stream, -1, NULL, (int)(intptr_t)event);
}

static int timer_elapsed(void *ctx, void *start, void *end, float *ms) {
    fake_gpu *f = ctx;
    const fake_event *a = event_of(f, start), *b = event_of(f, end);
    if (!a->timed || !b->timed) return reject(f, "elapsed time of an event without timing");
    if (!a->stamped || !b->stamped) return reject(f, "elapsed time of an event whose last record has not run");
    if (a->run != f->runs || b->run != f->runs) return reject(f, "elapsed time of an event not stamped by the last pass");
    *ms = (float)((b->time - a->time) * 1e-3);
    return 0;
}

static void range(void *ctx, const char *name) {}

/* Node ranges: ids handed out in order; ending one that is not open is an error. */
static uint64_t range_start(void *ctx, const char *name) {
    fake_gpu *f = ctx;
    if (f->n_open_ranges < (int)(sizeof f->open_ranges / sizeof f->open_ranges[0])) {
        f->open_ranges[f->n_open_ranges++] = ++f->range_ids;
    }
    f->ranges_started++;
    return f->range_ids;
}

static void range_end(void *ctx, uint64_t id) {
    fake_gpu *f = ctx;
    for (int i = 0; i < f->n_open_ranges; i++) {
        if (f->open_ranges[i] == id) {
            f->open_ranges[i] = f->open_ranges[--f->n_open_ranges];
            return;
        }
    }
    reject(f, "a profiler range ended that is not open");
}
static void destroy(void *ctx) {}

/* ---- the test's side ---- */

fake_gpu *fake_gpu_create(void) { return calloc(1, sizeof(fake_gpu)); }

void fake_gpu_destroy(fake_gpu *f) {
    graph_reset(&f->current);
    graph_reset(&f->last_eager);
    for (int i = 0; i < f->n_graphs; i++) graph_reset(&f->graphs[i]);
    free(f->graphs);
    free(f->uploads);
    free(f);
}

mot_gpu_api fake_gpu_api(fake_gpu *f) {
    return (mot_gpu_api){.ctx = f, .name = "fake", .stream_create = stream_create, .stream_destroy = stream_destroy,
                         .event_create = event_create, .event_destroy = event_destroy, .event_record = event_record,
                         .stream_wait_event = stream_wait_event, .stream_synchronize = stream_synchronize,
                         .begin_capture = begin_capture, .end_capture = end_capture,
                         .graph_instantiate = graph_instantiate, .graph_launch = graph_launch,
                         .graph_destroy = graph_destroy, .alloc = alloc, .free = fake_free, .copy_h2d = copy_h2d,
                         .copy_d2h = copy, .lane_create = lane_create, .launch = launch,
                         .timer_create = timer_create, .timer_record = timer_record,
                         .timer_elapsed = timer_elapsed, .range = range, .range_start = range_start,
                         .range_end = range_end,
                         .destroy = destroy};
}

void fake_gpu_fail_next_capture(fake_gpu *f) { f->fail_next_capture = 1; }
int fake_gpu_errors(const fake_gpu *f) { return f->errors; }
const char *fake_gpu_last_error(const fake_gpu *f) { return f->last_error; }
int fake_gpu_graph_count(const fake_gpu *f) { return f->n_graphs; }
const fake_graph *fake_gpu_graph(const fake_gpu *f, int i) { return &f->graphs[i]; }
const fake_graph *fake_gpu_last_eager(const fake_gpu *f) { return &f->last_eager; }

static int overlap(mot_buf a, mot_buf b) { return a.off < b.off + b.bytes && b.off < a.off + a.bytes; }

int fake_ops_conflict(const mot_plan_op *a, const mot_plan_op *b) {
    mot_buf wa[24], ra[32], wb[24], rb[32];
    int nwa = mot_plan_op_writes(a, wa, 24), nra = mot_plan_op_reads(a, ra, 32);
    int nwb = mot_plan_op_writes(b, wb, 24), nrb = mot_plan_op_reads(b, rb, 32);
    for (int i = 0; i < nwa; i++) {
        for (int j = 0; j < nwb; j++) if (overlap(wa[i], wb[j])) return 1;
        for (int j = 0; j < nrb; j++) if (overlap(wa[i], rb[j])) return 1;
    }
    for (int i = 0; i < nra; i++) {
        for (int j = 0; j < nwb; j++) if (overlap(ra[i], wb[j])) return 1;
    }
    return 0;
}
long fake_gpu_launches(const fake_gpu *f) { return f->launches; }
long fake_gpu_graph_launches(const fake_gpu *f) { return f->graph_launches; }
long fake_gpu_ranges_started(const fake_gpu *f) { return f->ranges_started; }
int fake_gpu_open_ranges(const fake_gpu *f) { return f->n_open_ranges; }

size_t fake_gpu_uploaded_bytes(const fake_gpu *f, const void *host) {
    size_t bytes = 0;
    for (int i = 0; i < f->n_uploads; i++) {
        if (f->uploads[i].src == host) bytes += f->uploads[i].bytes;
    }
    return bytes;
}

size_t fake_gpu_lane_dequant_bytes(const fake_gpu *f, int lane) {
    return lane >= 0 && lane < MOT_MAX_LANES ? f->dequant_bytes[lane] : 0;
}

size_t fake_gpu_lane_gemm_elems(const fake_gpu *f, int lane) {
    return lane >= 0 && lane < MOT_MAX_LANES ? f->gemm_elems[lane] : 0;
}

int fake_gpu_lane_precision_fast(const fake_gpu *f, int lane) {
    return lane >= 0 && lane < MOT_MAX_LANES ? f->precision_fast[lane] : -1;
}
