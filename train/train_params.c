#include "train/train_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

typedef struct {
    const mot_model *m;
    mot_train_layout *lay;
    mot_status st;
} layout_state;

static void add_one(const char *name, int ndim, const int64_t *shape, int optional, void *user) {
    layout_state *s = user;
    if (s->st != MOT_OK || (optional && !mot_st_find(s->m->st, name))) {
        return; /* a bias is trained exactly when the file has it (SPEC 1.3) */
    }
    mot_train_layout *lay = s->lay;
    mot_train_tensor *grown = realloc(lay->t, (size_t)(lay->n + 1) * sizeof *grown);
    char *copy = strdup(name);
    if (!grown || !copy) {
        free(copy);
        if (grown) lay->t = grown;
        s->st = mot_fail(MOT_ERR_NOMEM, "training: out of memory");
        return;
    }
    lay->t = grown;
    mot_train_tensor *t = &lay->t[lay->n++];
    *t = (mot_train_tensor){.name = copy, .ndim = ndim, .shape = {shape[0], ndim == 2 ? shape[1] : 1},
                            .offset = lay->total};
    t->count = (size_t)t->shape[0] * (size_t)t->shape[1];
    lay->total += t->count;
}

mot_status mot_train_layout_build(const mot_model *m, mot_train_layout *lay) {
    *lay = (mot_train_layout){0};
    if (!m->st) {
        return mot_fail(MOT_ERR_ARG, "%s: training needs MoT weights to start from", m->pipe->file);
    }
    layout_state s = {m, lay, MOT_OK};
    mot_model_visit_tensors(m, add_one, &s);
    if (s.st != MOT_OK) {
        mot_train_layout_free(lay);
    }
    return s.st;
}

void mot_train_layout_free(mot_train_layout *lay) {
    for (int i = 0; i < lay->n; i++) {
        free(lay->t[i].name);
    }
    free(lay->t);
    *lay = (mot_train_layout){0};
}

const mot_train_tensor *mot_train_layout_find(const mot_train_layout *lay, const char *name) {
    for (int i = 0; i < lay->n; i++) {
        if (!strcmp(lay->t[i].name, name)) {
            return &lay->t[i];
        }
    }
    return NULL;
}

mot_status mot_train_values_from_model(const mot_model *m, const mot_train_layout *lay, float *values) {
    for (int i = 0; i < lay->n; i++) {
        const mot_train_tensor *t = &lay->t[i];
        const mot_tensor *src = mot_st_find(m->st, t->name); /* shapes checked at model load */
        float *f = src ? mot_tensor_to_f32(src, (int64_t)t->count) : NULL;
        if (!f) {
            return mot_fail(MOT_ERR_NOMEM, "%s: tensor '%s': out of memory", m->pipe->weights, t->name);
        }
        memcpy(values + t->offset, f, t->count * sizeof *f);
        free(f);
    }
    return MOT_OK;
}

/* The tensor `name` of base; NULL when the layout has none (an absent bias). */
static float *at(const mot_train_layout *lay, float *base, const char *name) {
    const mot_train_tensor *t = mot_train_layout_find(lay, name);
    return t ? base + t->offset : NULL;
}

static mot_status bind_linear(const mot_train_layout *lay, float *base, const char *prefix, mot_train_linear *l) {
    char name[256];
    snprintf(name, sizeof name, "%s.weight", prefix);
    const mot_train_tensor *t = mot_train_layout_find(lay, name);
    if (!t) {
        return mot_fail(MOT_ERR_FORMAT, "training: tensor '%s' is missing", name);
    }
    l->w = base + t->offset;
    l->out = (int)t->shape[0];
    l->in = (int)t->shape[1];
    snprintf(name, sizeof name, "%s.bias", prefix);
    l->b = at(lay, base, name);
    return MOT_OK;
}

mot_status mot_train_view_bind(const mot_model *m, const mot_train_layout *lay, float *base, mot_train_view *v) {
    const mot_pipeline *p = m->pipe;
    *v = (mot_train_view){.base = base, .count = lay->total, .stacks = p->interaction.stacks, .n_experts = m->n_experts};
    v->inter = calloc((size_t)v->stacks, sizeof *v->inter);
    if (!v->inter) {
        return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    }
    MOT_TRY(bind_linear(lay, base, "router.fc1", &v->fc1));
    MOT_TRY(bind_linear(lay, base, "router.fc2", &v->fc2));
    char prefix[256];
    for (int q = 0; q < v->stacks; q++) {
        mot_train_inter *iw = &v->inter[q];
        iw->fwd = calloc((size_t)v->n_experts, sizeof *iw->fwd);
        iw->rev = calloc((size_t)v->n_experts, sizeof *iw->rev);
        if (!iw->fwd || !iw->rev) {
            return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
        }
        for (int e = 0; e < v->n_experts; e++) {
            snprintf(prefix, sizeof prefix, "interaction.%d.forward.%s", q, p->experts[e].name);
            MOT_TRY(bind_linear(lay, base, prefix, &iw->fwd[e]));
            snprintf(prefix, sizeof prefix, "interaction.%d.reverse.%s", q, p->experts[e].name);
            MOT_TRY(bind_linear(lay, base, prefix, &iw->rev[e]));
        }
        mot_train_linear *proj[4] = {&iw->q, &iw->k, &iw->v, &iw->o};
        for (int i = 0; i < 4; i++) {
            snprintf(prefix, sizeof prefix, "interaction.%d.attn.%c_proj", q, "qkvo"[i]);
            MOT_TRY(bind_linear(lay, base, prefix, proj[i]));
        }
        snprintf(prefix, sizeof prefix, "interaction.%d.norm.weight", q);
        iw->norm_w = at(lay, base, prefix);
        snprintf(prefix, sizeof prefix, "interaction.%d.norm.bias", q);
        iw->norm_b = at(lay, base, prefix);
    }
    return MOT_OK;
}

void mot_train_view_free(mot_train_view *v) {
    for (int q = 0; v->inter && q < v->stacks; q++) {
        free(v->inter[q].fwd);
        free(v->inter[q].rev);
    }
    free(v->inter);
    *v = (mot_train_view){0};
}

mot_weight mot_train_weight(const mot_train_linear *l) {
    return (mot_weight){.dtype = MOT_DTYPE_F32, .data = l->w, .rows = l->out, .cols = l->in};
}
