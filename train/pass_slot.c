#include "train/pass_slot.h"

#include <stdlib.h>

#include "common/error.h"
#include "executor/backend_select.h"
#include "executor/cuda_backend.h"

typedef struct {
    /* what the backend keeps pointers to (executor/backend.h: open) */
    mot_plan_source src;
    mot_arena_layout layout;
    mot_sampler samplers[MOT_MAX_LANES];
    mot_backend *be;
} seat;

struct mot_pass_slot {
    mot_backend_kind kind;
    const struct mot_gpu_api *api;
    struct mot_trace *trace; /* profiling, or NULL */
    int values_current; /* the device's (shared) copy of the trainable values is the host's */
    uint64_t epoch;     /* drops so far */
    seat seat[MOT_PASS_SEATS];
};

mot_status mot_pass_slot_create(const mot_model *m, const mot_train_view *w, mot_backend_kind kind,
                                const struct mot_gpu_api *api, int k, mot_pass_slot **out) {
    mot_pass_slot *s = calloc(1, sizeof *s);
    if (!s) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    s->kind = kind == MOT_BACKEND_CUDA ? MOT_BACKEND_CUDA : MOT_BACKEND_CPU;
    s->api = api;
    /* lanes: the routed set's, and the LM head's after them (train/mot_pass.c) */
    int lanes = (k > 0 ? k : m->pipe->router.top_k) + 1;
    lanes = lanes < 2 ? 2 : lanes > MOT_MAX_LANES ? MOT_MAX_LANES : lanes;
    for (int i = 0; i < MOT_PASS_SEATS; i++) {
        mot_plan_source *src = &s->seat[i].src;
        *src = (mot_plan_source){.n_lanes = lanes, .shared_dim = m->pipe->interaction.shared_dim,
                                 .heads = m->pipe->interaction.heads,
                                 .pool = (const mot_expert *const *)m->experts, .n_pool = m->n_experts,
                                 .extra = w->base, .extra_bytes = w->count * sizeof(float)};
        for (int l = 0; l < lanes; l++) src->ex[l] = m->experts[0], src->ctx[l] = src->max_rows[l] = 1;
    }
    *out = s;
    return MOT_OK;
}

/* Drops every seat's backend, the borrowers before the one they borrow from. */
static void drop_backends(mot_pass_slot *s) {
    for (int i = MOT_PASS_SEATS - 1; i >= 0; i--) {
        if (s->seat[i].be) s->seat[i].be->destroy(s->seat[i].be);
        s->seat[i].be = NULL, s->seat[i].layout.bytes = 0;
    }
    s->values_current = 0;
    s->epoch++;
}

void mot_pass_slot_free(mot_pass_slot *s) {
    if (!s) return;
    drop_backends(s);
    free(s);
}

void mot_pass_slot_values_changed(mot_pass_slot *s) { s->values_current = 0; }
uint64_t mot_pass_slot_epoch(const mot_pass_slot *s) { return s->epoch; }

void mot_pass_slot_set_trace(mot_pass_slot *s, struct mot_trace *t) {
    drop_backends(s);
    s->trace = t;
}
struct mot_trace *mot_pass_slot_trace(const mot_pass_slot *s) { return s ? s->trace : NULL; }

/* A new backend for seat i, sharing the uploads of another seat's when there is one; *shares
 * says whether it does. */
static mot_status seat_create(mot_pass_slot *s, int i, int *shares) {
    seat *t = &s->seat[i];
    const mot_backend_options o = {.kind = s->kind, .trace = s->trace};
    MOT_TRY(s->kind == MOT_BACKEND_CUDA && s->api ? mot_backend_cuda_with_api(&o, s->api, &t->be)
                                                   : mot_backend_create(&o, &t->be));
    *shares = 0;
    for (int j = 0; j < MOT_PASS_SEATS && !*shares && t->be->share_weights; j++) {
        if (j != i && s->seat[j].be) {
            MOT_TRY(t->be->share_weights(t->be, s->seat[j].be));
            *shares = 1;
        }
    }
    return MOT_OK;
}

static mot_status seat_ready(mot_pass_slot *s, int i, size_t bytes) {
    seat *t = &s->seat[i];
    const int fresh = !t->be;
    int shares = 0;
    if (fresh) MOT_TRY(seat_create(s, i, &shares));
    if (fresh || bytes > t->layout.bytes) { /* grow by a quarter more: fewer reopenings */
        const size_t grown = fresh ? bytes : bytes + bytes / 4;
        t->layout = (mot_arena_layout){.bytes = grown, .step = {0, sizeof(mot_step_state)}, .n_lanes = t->src.n_lanes};
        MOT_TRY(t->be->open(t->be, &t->src, &t->layout, t->samplers));
        if (fresh && !shares) s->values_current = 1; /* open uploaded them */
    }
    if (!s->values_current && t->be->update) { /* copied once for every seat: they share it */
        MOT_TRY(t->be->update(t->be, t->src.extra, t->src.extra_bytes));
    }
    s->values_current = 1;
    return MOT_OK;
}

mot_status mot_pass_slot_ready(mot_pass_slot *s, int i, int n_lanes, const mot_expert *const *ex, const int *expert,
                               const int *rows, size_t bytes, mot_backend **be) {
    seat *t = i >= 0 && i < MOT_PASS_SEATS ? &s->seat[i] : NULL;
    if (!t || n_lanes > t->src.n_lanes) {
        return mot_fail(MOT_ERR_INTERNAL, "training: a pass of %d lanes in seat %d of a slot of %d lanes", n_lanes, i,
                        s->seat[0].src.n_lanes);
    }
    for (int l = 0; l < n_lanes; l++) {
        t->src.ex[l] = ex[l], t->src.expert[l] = expert[l];
        t->src.ctx[l] = t->src.max_rows[l] = rows[l] > 0 ? rows[l] : 1;
    }
    const mot_status st = seat_ready(s, i, bytes);
    if (st != MOT_OK) { /* a half-opened backend is not reused, nor one that borrows from it */
        drop_backends(s);
        return st;
    }
    *be = t->be;
    return MOT_OK;
}
