/* A training pass's plans on the CUDA executor, without a GPU: the pass of train/mot_pass.c
 * (forward with a tape, then backward) run once on the CPU and once on the CUDA backend over
 * the recording fake of the CUDA runtime (tests/scheduler/fake_gpu.c), on the K=3 pool of tiny
 * heterogeneous experts (hetero3_k3: three tokenizers, widths and depths), dropout on:
 *   - every op binds on CUDA: its weights, biases and f32 vectors are found among the uploads
 *     (the experts' weights, and the trainable values uploaded whole as the source's extra);
 *   - in the launches of each pass (the fake's eager graph), every pair of ops that touch the
 *     same arena bytes, one writing, is ordered by a path of stream order and event waits, and
 *     each op runs on its lane's stream (the head on lane K);
 *   - the CPU run gives finite logits and a non-zero gradient to the tensors it reaches;
 *   - the pool's experts are uploaded once and the trainable values once a change, across a
 *     pass that grows the arena, one that reuses it, and batches whose two passes run in the
 *     slot's two seats at once (the second seat shares the first's uploads).
 * The numbers on a real GPU are the job of train.grads_*_cuda. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "profiling/trace.h"
#include "tests/scheduler/fake_gpu.h"
#include "tests/scheduler/test_check.h"
#include "train/mot_pass.h"
#include "train/pass_backward.h"
#include "train/train_step.h"

static int failures;

/* One example: per expert a prompt of N tokens and a completion of C (ids from its vocab). */
typedef struct {
    mot_train_example e;
    int *ids, *n, *n_prompt;
    size_t *offset;
} example;

static void make_example(const mot_model *m, int N, int C, example *x) {
    const int M = m->n_experts, R = N + C;
    x->ids = malloc(sizeof(int) * (size_t)(M * R));
    x->n = malloc(sizeof(int) * (size_t)M), x->n_prompt = malloc(sizeof(int) * (size_t)M);
    x->offset = malloc(sizeof(size_t) * (size_t)M);
    for (int e = 0; e < M; e++) {
        x->n[e] = R, x->n_prompt[e] = N, x->offset[e] = (size_t)(e * R);
        for (int t = 0; t < R; t++) x->ids[e * R + t] = (7 * t + 3 * e + 1) % m->experts[e]->cfg.vocab;
    }
    x->e = (mot_train_example){.line = 1, .ids = x->ids, .n = x->n, .n_prompt = x->n_prompt, .offset = x->offset,
                               .route_target = -1};
}

/* The launches of one pass on the fake: hazards ordered, lanes' streams. */
static void check_launches(const fake_graph *g, const char *what, int K) {
    long hazards = 0, bad = 0;
    int head = 0;
    for (int a = 0; a < g->n_nodes; a++) {
        const mot_plan_op *oa = g->nodes[a].launch.op;
        if (!oa) continue;
        CHECK(g->nodes[a].lane == oa->lane, "%s: op %d (%s) on lane %d's stream, not %d", what, a,
              mot_op_kind_name(oa->kind), g->nodes[a].lane, oa->lane);
        head += oa->lane == K;
        for (int b = a + 1; b < g->n_nodes; b++) {
            const mot_plan_op *ob = g->nodes[b].launch.op;
            if (!ob || !fake_ops_conflict(oa, ob)) continue;
            hazards++;
            if (!fake_graph_reaches(g, a, b) && bad++ < 5) {
                CHECK(0, "%s: ops %d (%s, lane %d) and %d (%s, lane %d) touch the same memory without a path", what, a,
                      mot_op_kind_name(oa->kind), oa->lane, b, mot_op_kind_name(ob->kind), ob->lane);
            }
        }
    }
    CHECK(bad == 0, "%s: %ld of %ld conflicting pairs unordered", what, bad, hazards);
    CHECK(hazards > 0, "%s: no conflicting pairs seen (the check saw nothing)", what);
    printf("%s: %d launches (%d on the head's lane %d), %ld conflicting pairs, %ld of them unordered\n", what,
           g->n_nodes, head, K, hazards, bad);
}

/* A pass (forward with a tape, backward from dlogits) on the chosen backend; logits out (when
 * not NULL), the gradient into t->grad, dgate. */
static void run_pass(mot_trainer *t, const example *x, const int *active, int K, fake_gpu *f, float **logits_out,
                     int *rows, int *vocab) {
    float gate[MOT_MAX_LANES], dgate[MOT_MAX_LANES] = {0};
    for (int k = 0; k < K; k++) gate[k] = 1.0f;
    mot_pass_opts o = {.k = K, .active = active, .gate = gate, .tape = 1, .dropout = 0.25f, .dropout_seed = 11,
                       .slot = t->slot};
    mot_pass *p = NULL;
    MUST(mot_pass_forward(t->m, &t->w, &x->e, &o, &p));
    if (f) check_launches(fake_gpu_last_eager(f), "forward on the fake", K);
    const int T = mot_pass_rows(p), V = mot_pass_vocab(p);
    float *dl = malloc(sizeof(float) * (size_t)T * V);
    for (int i = 0; i < T * V; i++) dl[i] = (float)((i * 37 % 101) - 50) / 5000.0f;
    MUST(mot_pass_backward(p, dl, &t->g, dgate));
    if (f) check_launches(fake_gpu_last_eager(f), "backward on the fake", K);
    if (logits_out) {
        *logits_out = malloc(sizeof(float) * (size_t)T * V);
        memcpy(*logits_out, mot_pass_logits(p), sizeof(float) * (size_t)T * V);
    }
    *rows = T, *vocab = V;
    free(dl);
    mot_pass_free(p);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_train_plan PIPELINE.yaml\n");
        return 2;
    }
    mot_model *m;
    MUST(mot_model_load(argv[1], 1, &m));
    mot_train_layout lay;
    MUST(mot_train_layout_build(m, &lay));
    mot_trainer t;
    MUST(mot_trainer_init(&t, m, &lay));
    example x;
    make_example(m, 5, 4, &x);
    const int K = m->pipe->router.top_k;
    int active[MOT_MAX_LANES];
    for (int k = 0; k < K; k++) active[k] = (k + 1) % m->n_experts; /* a primary other than expert 0 */

    /* the CPU: finite logits, a gradient */
    float *logits;
    int T, V;
    run_pass(&t, &x, active, K, NULL, &logits, &T, &V);
    int finite = 1;
    for (int i = 0; i < T * V; i++) finite &= isfinite(logits[i]) != 0;
    double gsum = 0;
    for (size_t i = 0; i < lay.total; i++) gsum += fabs(t.grad[i]);
    CHECK(finite && T == 4, "cpu: %d rows of logits, finite %d", T, finite);
    CHECK(gsum > 0 && isfinite(gsum), "cpu: the gradient's L1 norm is %g", gsum);
    printf("cpu: %d x %d logits finite, gradient L1 %.6g\n", T, V, gsum);

    /* the fake GPU: binds, uploads, ordering; then a longer example (the arena grows: opened
     * again) and the first again (reused), the values changed in between each time */
    fake_gpu *f = fake_gpu_create();
    mot_gpu_api api = fake_gpu_api(f);
    MUST(mot_trainer_set_backend(&t, MOT_BACKEND_CUDA, &api));
    example longer;
    make_example(m, 11, 9, &longer);
    const example *order[3] = {&x, &longer, &x};
    for (int i = 0; i < 3; i++) {
        t.values[0] += 1.0f; /* as AdamW would between steps */
        mot_trainer_values_changed(&t);
        memset(t.grad, 0, sizeof(float) * lay.total);
        run_pass(&t, order[i], active, K, f, NULL, &T, &V);
        CHECK(T == order[i]->n[active[0]] - order[i]->n_prompt[active[0]], "pass %d: %d completion rows", i, T);
        CHECK(fake_gpu_uploaded_bytes(f, t.values) == (size_t)(i + 1) * lay.total * sizeof(float),
              "pass %d: the trainable values copied %zu bytes in all, expected %zu (once a pass)", i,
              fake_gpu_uploaded_bytes(f, t.values), (size_t)(i + 1) * lay.total * sizeof(float));
    }
    /* batches of one example whose two routings agree (the same noise): both passes alive at
     * once, in seats 0 and 1; the values unchanged, then changed once */
    float *z = calloc((size_t)t.w.fc1.in, sizeof *z), *g = calloc((size_t)m->n_experts, sizeof *g);
    for (int i = 0; i < t.w.fc1.in; i++) z[i] = (float)((i * 13 % 7) - 3) / 10.0f;
    x.e.z = z;
    const mot_train_example *batch[1] = {&x.e};
    mot_train_hparams h;
    mot_train_hparams_default(&h);
    for (int i = 0; i < 2; i++) {
        if (i == 1) t.values[0] += 1.0f, mot_trainer_values_changed(&t);
        mot_train_losses L;
        int a0[MOT_MAX_LANES], a1[MOT_MAX_LANES];
        MUST(mot_train_batch(&t, batch, 1, g, g, &h, 5, &L, a0, a1));
        CHECK(a0[0] == a1[0] && L.tokens_all == 2 * L.tokens && L.con >= 0,
              "batch %d: primaries %d and %d, %ld tokens of %ld: both passes should have run", i, a0[0], a1[0],
              L.tokens_all, L.tokens);
        const size_t want = (size_t)(3 + i) * lay.total * sizeof(float);
        CHECK(fake_gpu_uploaded_bytes(f, t.values) == want,
              "batch %d (two seats): the trainable values copied %zu bytes in all, expected %zu (once a change)", i,
              fake_gpu_uploaded_bytes(f, t.values), want);
    }
    free(z), free(g);
    x.e.z = NULL;
    for (int e = 0; e < m->n_experts; e++) { /* the pool's experts uploaded once, every one */
        const mot_weight *wq = &m->experts[e]->layers[0].wq;
        const size_t bytes = (size_t)wq->rows * mot_dtype_row_bytes(wq->dtype, wq->cols);
        CHECK(fake_gpu_uploaded_bytes(f, wq->data) == bytes, "expert %d's layer 0 q weight: %zu bytes uploaded, %zu once",
              e, fake_gpu_uploaded_bytes(f, wq->data), bytes);
    }
    /* profiled (mot train --profile): the CUDA executor's timed events give node slices of both
     * phases on the pass's lanes, inside the host slices of their passes (set
     * after the upload counts: a trace makes the backends anew) */
    mot_trace tr;
    mot_trace_init(&tr);
    mot_trainer_set_trace(&t, &tr);
    run_pass(&t, &x, active, K, f, NULL, &T, &V);
    int nodes[2] = {0}, hosts[2] = {0}, lanes_ok = 1;
    for (int i = 0; i < tr.n; i++) {
        const mot_trace_slice *s = &tr.slices[i];
        const int b = s->phase == MOT_TRACE_PHASE_BACKWARD;
        if (s->track == MOT_TRACE_HOST) hosts[b] += !strcmp(s->name, b ? "backward" : "forward");
        else nodes[b]++, lanes_ok &= s->track >= 0 && s->track <= K;
    }
    CHECK(nodes[0] > 0 && nodes[1] > 0 && hosts[0] == 1 && hosts[1] == 1 && lanes_ok,
          "profiled pass on the fake: %d forward and %d backward node slices, host slices %d/%d, lanes ok %d", nodes[0],
          nodes[1], hosts[0], hosts[1], lanes_ok);
    mot_trainer_set_trace(&t, NULL);
    mot_trace_free(&tr);
    CHECK(fake_gpu_errors(f) == 0, "the fake rejected %d calls: %s", fake_gpu_errors(f), fake_gpu_last_error(f));
    MUST(mot_trainer_set_backend(&t, MOT_BACKEND_CPU, NULL)); /* before the fake goes */
    fake_gpu_destroy(f);
    free(longer.ids), free(longer.n), free(longer.n_prompt), free(longer.offset);

    free(logits), free(x.ids), free(x.n), free(x.n_prompt), free(x.offset);
    mot_trainer_free(&t);
    mot_train_layout_free(&lay);
    mot_model_free(m);
    printf("%s (%d failures)\n", failures ? "FAILED" : "all passed", failures);
    return failures ? 1 : 0;
}
