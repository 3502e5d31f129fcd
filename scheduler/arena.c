#include "scheduler/arena.h"

#include <string.h>

#include "common/error.h"

static uint64_t next_generation = 1;

typedef struct {
    size_t bytes;
    int overflow;
} cursor;

/* Reserves `count` elements of `elem` bytes, 64-byte aligned (0 elements: an absent buffer). */
static mot_buf take(cursor *c, size_t count, size_t elem) {
    if (count == 0) {
        return (mot_buf){0, 0};
    }
    if (count > SIZE_MAX / 2 / elem) {
        c->overflow = 1;
        return (mot_buf){0, 0};
    }
    mot_buf b = {c->bytes, count * elem};
    const size_t padded = (b.bytes + 63) & ~(size_t)63;
    if (c->bytes > SIZE_MAX / 2 - padded) {
        c->overflow = 1;
        return (mot_buf){0, 0};
    }
    c->bytes += padded;
    return b;
}

mot_buf mot_arena_slice(mot_buf whole, int index, int count) {
    size_t part = whole.bytes / (size_t)count;
    return (mot_buf){whole.off + (size_t)index * part, part};
}

mot_status mot_arena_plan(const mot_plan_source *src, mot_arena_layout *out) {
    memset(out, 0, sizeof *out);
    cursor c = {0, 0};
    out->step = take(&c, 1, sizeof(mot_step_state));
    out->n_lanes = src->n_lanes;
    const size_t ds = (size_t)src->shared_dim, Q = (size_t)src->stacks;
    /* the highest query rank of the graph's attentions (docs/pipeline.md): lanes 0 .. queries
     * hold queries, attention output and its projection */
    int queries = 0;
    for (int i = 0; src->graph && i < src->graph->n_nodes; i++) {
        const mot_graph_node *n = &src->graph->nodes[i];
        queries = !strcmp(n->kind, "attention") && n->query > queries ? n->query : queries;
    }
    for (int i = 0; i < src->n_lanes; i++) {
        const mot_config *cfg = &src->ex[i]->cfg;
        const size_t R = (size_t)src->max_rows[i], C = (size_t)src->ctx[i];
        const size_t d = (size_t)cfg->hidden, qd = (size_t)cfg->n_heads * cfg->head_dim;
        const size_t kvd = (size_t)cfg->n_kv_heads * cfg->head_dim, f = sizeof(float);
        if (R == 0 || C == 0) {
            return mot_fail(MOT_ERR_INTERNAL, "arena: lane %d has no rows (max_rows %zu, ctx %zu)", i, R, C);
        }
        mot_lane_bufs *L = &out->lane[i];
        L->tokens = take(&c, R, sizeof(int32_t));
        L->x = take(&c, R * d, f);
        L->xn = take(&c, R * d, f);
        L->q = take(&c, R * qd, f);
        L->att = take(&c, R * qd, f);
        L->k = take(&c, R * kvd, f);
        L->v = take(&c, R * kvd, f);
        L->gate = take(&c, R * (size_t)cfg->ffn, f);
        L->up = take(&c, R * (size_t)cfg->ffn, f);
        L->logits = take(&c, (size_t)cfg->vocab, f);
        L->all_logits = i == 0 && src->all_logits ? take(&c, R * (size_t)cfg->vocab, f) : (mot_buf){0, 0};
        L->k_cache = take(&c, (size_t)cfg->n_layers * C * kvd, f);
        L->v_cache = take(&c, (size_t)cfg->n_layers * C * kvd, f);
        if (Q > 0) {
            L->z = take(&c, R * ds, f);
            L->nz = take(&c, R * ds, f);
            L->lat_k = take(&c, R * ds, f);
            L->lat_v = take(&c, R * ds, f);
            L->lat_k_cache = take(&c, Q * C * ds, f);
            L->lat_v_cache = take(&c, Q * C * ds, f);
            if (i <= queries) { /* a lane that queries a cross-attention */
                L->lat_q = take(&c, R * ds, f);
                L->lat_att = take(&c, R * ds, f);
                L->lat_o = take(&c, R * ds, f);
            }
        }
    }
    if (c.overflow) {
        return mot_fail(MOT_ERR_ARG, "arena: the requested context does not fit in memory");
    }
    out->bytes = c.bytes;
    out->generation = __atomic_fetch_add(&next_generation, 1, __ATOMIC_RELAXED);
    return MOT_OK;
}
