#include "train/pass_slot.h"

#include <stdlib.h>

#include "common/error.h"
#include "executor/backend_select.h"
#include "executor/cuda_backend.h"

struct mot_pass_slot {
    mot_backend_kind kind;
    const struct mot_gpu_api *api;
    /* what the backend keeps pointers to (executor/backend.h: open) */
    mot_plan_source src;
    mot_arena_layout layout;
    mot_sampler samplers[MOT_MAX_LANES];
    mot_backend *be;
};

mot_status mot_pass_slot_create(const mot_model *m, const mot_train_view *w, mot_backend_kind kind,
                                const struct mot_gpu_api *api, mot_pass_slot **out) {
    return mot_pass_slot_create_k(m, w, kind, api, m->pipe->router.top_k, out);
}

mot_status mot_pass_slot_create_k(const mot_model *m, const mot_train_view *w, mot_backend_kind kind,
                                  const struct mot_gpu_api *api, int k, mot_pass_slot **out) {
    mot_pass_slot *s = calloc(1, sizeof *s);
    if (!s) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    s->kind = kind == MOT_BACKEND_CUDA ? MOT_BACKEND_CUDA : MOT_BACKEND_CPU;
    s->api = api;
    /* lanes: the routed set's, and the LM head's after them (train/mot_pass.c) */
    int lanes = k + 1;
    lanes = lanes < 2 ? 2 : lanes > MOT_MAX_LANES ? MOT_MAX_LANES : lanes;
    s->src = (mot_plan_source){.n_lanes = lanes, .shared_dim = m->pipe->interaction.shared_dim,
                               .heads = m->pipe->interaction.heads,
                               .pool = (const mot_expert *const *)m->experts, .n_pool = m->n_experts,
                               .extra = w->base, .extra_bytes = w->count * sizeof(float)};
    for (int i = 0; i < lanes; i++) {
        s->src.ex[i] = m->experts[0], s->src.ctx[i] = s->src.max_rows[i] = 1;
    }
    *out = s;
    return MOT_OK;
}

void mot_pass_slot_free(mot_pass_slot *s) {
    if (!s) return;
    if (s->be) s->be->destroy(s->be);
    free(s);
}

mot_status mot_pass_slot_ready(mot_pass_slot *s, int n_lanes, const mot_expert *const *ex, const int *expert,
                               const int *rows, size_t bytes, mot_backend **be) {
    if (n_lanes > s->src.n_lanes) {
        return mot_fail(MOT_ERR_INTERNAL, "training: a pass of %d lanes in a slot of %d", n_lanes, s->src.n_lanes);
    }
    for (int i = 0; i < n_lanes; i++) {
        s->src.ex[i] = ex[i], s->src.expert[i] = expert[i];
        s->src.ctx[i] = s->src.max_rows[i] = rows[i] > 0 ? rows[i] : 1;
    }
    const int fresh = !s->be;
    if (fresh) {
        const mot_backend_options o = {.kind = s->kind};
        MOT_TRY(s->kind == MOT_BACKEND_CUDA && s->api ? mot_backend_cuda_with_api(&o, s->api, &s->be)
                                                       : mot_backend_create(&o, &s->be));
    }
    mot_status st = MOT_OK;
    if (fresh || bytes > s->layout.bytes) { /* grow by a quarter more: fewer reopenings */
        const size_t grown = fresh ? bytes : bytes + bytes / 4;
        s->layout = (mot_arena_layout){.bytes = grown, .step = {0, sizeof(mot_step_state)}, .n_lanes = s->src.n_lanes};
        st = s->be->open(s->be, &s->src, &s->layout, s->samplers);
    }
    if (st == MOT_OK && !fresh && s->be->update) { /* the values open copied may be old */
        st = s->be->update(s->be, s->src.extra, s->src.extra_bytes);
    }
    if (st != MOT_OK) { /* a half-opened backend is not reused */
        s->be->destroy(s->be);
        s->be = NULL, s->layout.bytes = 0;
        return st;
    }
    *be = s->be;
    return MOT_OK;
}
