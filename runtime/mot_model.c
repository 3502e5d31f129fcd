/* Loading a MoT pipeline: experts, tokenizers, placements and the MoT weights. */
#include "runtime/mot_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "runtime/chat_prompt.h"
#include "common/mapped_file.h"

/* ---- the tensor list (SPEC 2.2) ---- */

/* fn(name, ndim, shape, optional, slot, user) for one expected tensor; slot is where the loader
 * puts it: a mot_weight * (2-D) or a float ** for its f32 copy (1-D), NULL when only listing. */
typedef mot_status (*tensor_fn)(const char *name, int ndim, const int64_t *shape, int optional, void *slot,
                                void *user);

/* q, k, v, o by index. */
static mot_linear *attn_proj(mot_interaction_weights *iw, int i) {
    mot_linear *proj[4] = {&iw->q, &iw->k, &iw->v, &iw->o};
    return proj[i];
}

/* The one list of the MoT tensors, in file order; with `into` (its inter[] allocated), each
 * comes with its slot there. Stops at the first error fn returns. */
static mot_status each_tensor(const mot_model *m, mot_model *into, tensor_fn fn, void *user) {
    const mot_pipeline *p = m->pipe;
    const int64_t ds = p->interaction.shared_dim, hr = p->router.hidden, M = m->n_experts;
    const int64_t dz = m->experts[p->router.expert]->cfg.hidden;
    char name[256];
    int64_t s[2];
#define VISIT(opt, nd, a, b, slot, ...)                                      \
    do {                                                                     \
        snprintf(name, sizeof name, __VA_ARGS__);                            \
        s[0] = (a), s[1] = (b);                                              \
        MOT_TRY(fn(name, nd, s, opt, into ? (void *)(slot) : NULL, user));   \
    } while (0)
    VISIT(0, 2, hr, dz, &into->router_fc1.w, "router.fc1.weight");
    VISIT(0, 1, hr, 0, &into->router_fc1.bias, "router.fc1.bias");
    VISIT(0, 2, M, hr, &into->router_fc2.w, "router.fc2.weight");
    VISIT(0, 1, M, 0, &into->router_fc2.bias, "router.fc2.bias");
    for (int q = 0; q < p->interaction.stacks; q++) {
        mot_interaction_weights *iw = into ? &into->inter[q] : NULL;
        for (int e = 0; e < M; e++) {
            const char *en = p->experts[e].name;
            const int64_t dm = m->experts[e]->cfg.hidden;
            VISIT(0, 2, ds, dm, &iw->forward[e].w, "interaction.%d.forward.%s.weight", q, en);
            VISIT(1, 1, ds, 0, &iw->forward[e].bias, "interaction.%d.forward.%s.bias", q, en);
            VISIT(0, 2, dm, ds, &iw->reverse[e].w, "interaction.%d.reverse.%s.weight", q, en);
            VISIT(1, 1, dm, 0, &iw->reverse[e].bias, "interaction.%d.reverse.%s.bias", q, en);
        }
        static const char proj[4] = {'q', 'k', 'v', 'o'};
        for (int i = 0; i < 4; i++) {
            VISIT(0, 2, ds, ds, &attn_proj(iw, i)->w, "interaction.%d.attn.%c_proj.weight", q, proj[i]);
            VISIT(1, 1, ds, 0, &attn_proj(iw, i)->bias, "interaction.%d.attn.%c_proj.bias", q, proj[i]);
        }
        if (p->interaction.norm == MOT_LATENT_NORM_LAYERNORM) {
            VISIT(0, 1, ds, 0, &iw->norm_weight, "interaction.%d.norm.weight", q);
            VISIT(0, 1, ds, 0, &iw->norm_bias, "interaction.%d.norm.bias", q);
        }
    }
#undef VISIT
    return MOT_OK;
}

typedef struct {
    mot_tensor_visitor fn;
    void *user;
} list_visitor;

static mot_status list_one(const char *name, int ndim, const int64_t *shape, int optional, void *slot,
                           void *user) {
    const list_visitor *v = user;
    v->fn(name, ndim, shape, optional, v->user);
    return MOT_OK;
}

void mot_model_visit_tensors(const mot_model *m, mot_tensor_visitor fn, void *user) {
    each_tensor(m, NULL, list_one, &(list_visitor){fn, user});
}

/* ---- binding ---- */

/* An absent optional tensor (a bias) leaves its slot NULL. */
static mot_status bind_one(const char *name, int ndim, const int64_t *shape, int optional, void *slot,
                           void *user) {
    const mot_st_set *set = user;
    if (optional && !mot_st_find(set, name)) {
        return MOT_OK;
    }
    return ndim == 2 ? mot_st_expect_weight(set, name, shape[0], shape[1], slot)
                     : mot_st_expect_f32_vector(set, name, shape[0], slot);
}

static mot_status bind_weights(mot_model *m) {
    const mot_pipeline *p = m->pipe;
    m->inter = calloc((size_t)p->interaction.stacks, sizeof *m->inter);
    if (!m->inter) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", p->weights);
    }
    for (int q = 0; q < p->interaction.stacks; q++) {
        mot_interaction_weights *iw = &m->inter[q];
        iw->forward = calloc((size_t)m->n_experts, sizeof *iw->forward);
        iw->reverse = calloc((size_t)m->n_experts, sizeof *iw->reverse);
        if (!iw->forward || !iw->reverse) {
            return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", p->weights);
        }
    }
    return each_tensor(m, m, bind_one, m->st);
}

mot_status mot_model_load(const char *pipeline_path, int load_weights, mot_model **out) {
    return mot_model_load_with(pipeline_path, NULL, load_weights, out);
}

mot_status mot_model_load_with(const char *pipeline_path, const char *weights_path, int load_weights,
                               mot_model **out) {
    *out = NULL;
    mot_model *m = calloc(1, sizeof *m);
    if (!m) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", pipeline_path);
    }
    mot_status st = mot_pipeline_load(pipeline_path, &m->pipe);
    if (st != MOT_OK) {
        free(m);
        return st;
    }
    if (weights_path) {
        char *w = strdup(weights_path);
        if (!w) {
            mot_pipeline_free(m->pipe);
            free(m);
            return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", pipeline_path);
        }
        free(m->pipe->weights);
        m->pipe->weights = w;
    }
    const mot_pipeline *p = m->pipe;
    m->n_experts = p->n_experts;
    m->experts = calloc((size_t)m->n_experts, sizeof *m->experts);
    m->tokenizers = calloc((size_t)m->n_experts, sizeof *m->tokenizers);
    m->chat = calloc((size_t)m->n_experts, sizeof *m->chat);
    if (!m->experts || !m->tokenizers || !m->chat) {
        st = mot_fail(MOT_ERR_NOMEM, "%s: out of memory", pipeline_path);
    }
    for (int e = 0; st == MOT_OK && e < m->n_experts; e++) {
        const mot_pipeline_expert *pe = &p->experts[e];
        /* the settings first (errors about the model name config.json or the GGUF header),
         * then the tokenizer: its transient build memory then does not add to the weights' */
        mot_config cfg;
        st = mot_config_load(pe->path, &cfg);
        if (st == MOT_OK) {
            st = mot_tokenizer_load(pe->path, &m->tokenizers[e]);
        }
        if (st == MOT_OK) {
            st = mot_expert_load(pe->path, &m->experts[e]);
        }
        if (st == MOT_OK && pe->chat) {
            st = mot_chat_resolve(m->tokenizers[e], pe->chat_template, pe->path, "chat_template:", &m->chat[e]);
            if (st != MOT_OK) {
                st = mot_fail_prefix(st, "%s:%d:%d: error: expert '%s'", p->file, pe->chat_pos.line, pe->chat_pos.col,
                                     pe->name);
                break;
            }
        }
        if (st != MOT_OK) {
            /* Say which expert of which pipeline the bad folder belongs to. */
            st = mot_fail_prefix(st, "%s:%d:%d: error: expert '%s'", p->file, pe->pos.line, pe->pos.col,
                                 pe->name);
        }
    }
    if (st == MOT_OK) { /* checks every expert's placement against its depth */
        int *depths = malloc(sizeof *depths * (size_t)m->n_experts);
        for (int e = 0; depths && e < m->n_experts; e++) {
            depths[e] = m->experts[e]->cfg.n_layers;
        }
        st = depths ? mot_pipeline_graph(p, depths, &m->graph) : mot_fail(MOT_ERR_NOMEM, "out of memory");
        free(depths);
    }
    if (st == MOT_OK && load_weights) {
        if (!p->weights) {
            st = mot_fail(MOT_ERR_ARG, "%s: error: the pipeline names no weights file (add `weights:`)", p->file);
        } else if (!mot_file_exists(p->weights)) {
            st = mot_fail(MOT_ERR_IO, "%s:%d:%d: error: weights file '%s' does not exist (`mot init %s` writes random ones)",
                          p->file, p->weights_pos.line, p->weights_pos.col, p->weights, p->file);
        } else {
            st = mot_st_open_file(p->weights, &m->st);
            if (st == MOT_OK) {
                st = bind_weights(m);
            }
        }
    }
    if (st != MOT_OK) {
        mot_model_free(m);
        return st;
    }
    *out = m;
    return MOT_OK;
}

void mot_model_free(mot_model *m) {
    if (!m) {
        return;
    }
    for (int e = 0; e < m->n_experts; e++) {
        if (m->experts) mot_expert_free(m->experts[e]);
        if (m->tokenizers) mot_tokenizer_free(m->tokenizers[e]);
    }
    free(m->experts);
    free(m->tokenizers);
    mot_graph_free(&m->graph);
    free(m->chat);
    free(m->router_fc1.bias);
    free(m->router_fc2.bias);
    if (m->inter) {
        for (int q = 0; q < m->pipe->interaction.stacks; q++) {
            mot_interaction_weights *iw = &m->inter[q];
            for (int e = 0; e < m->n_experts; e++) {
                if (iw->forward) free(iw->forward[e].bias);
                if (iw->reverse) free(iw->reverse[e].bias);
            }
            free(iw->forward);
            free(iw->reverse);
            free(iw->q.bias), free(iw->k.bias), free(iw->v.bias), free(iw->o.bias);
            free(iw->norm_weight), free(iw->norm_bias);
        }
    }
    free(m->inter);
    mot_st_close(m->st);
    mot_pipeline_free(m->pipe);
    free(m);
}

static void add_bias(const mot_linear *l, float *y, int n) {
    if (l->bias) {
        const int64_t out = l->w.rows;
        for (int t = 0; t < n; t++) {
            for (int64_t i = 0; i < out; i++) {
                y[t * out + i] += l->bias[i];
            }
        }
    }
}

void mot_linear_apply(const mot_linear *l, const float *x, float *y, int n) {
    mot_cpu_matmul(y, x, &l->w, n);
    add_bias(l, y, n);
}
