/* The run state of one expert: KV cache at full context, scratch for one chunk. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "runtime/expert.h"

size_t mot_state_kv_bytes(const mot_expert *ex, int n_ctx) {
    const mot_config *c = &ex->cfg;
    return 2 * (size_t)c->n_layers * (size_t)n_ctx * (size_t)(c->n_kv_heads * c->head_dim) * sizeof(float);
}

/* 64-byte aligned, zeroed (a never-touched page of the KV cache costs no memory). */
static float *alloc_floats(size_t n) {
    void *p = NULL;
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

mot_status mot_state_init(const mot_expert *ex, int n_ctx, int max_batch, mot_expert_state *st) {
    memset(st, 0, sizeof *st);
    const mot_config *c = &ex->cfg;
    if (n_ctx <= 0) {
        return mot_fail(MOT_ERR_ARG, "context size must be positive (got %d)", n_ctx);
    }
    if (max_batch <= 0) {
        max_batch = 1;
    }
    if (max_batch > n_ctx) {
        max_batch = n_ctx;
    }
    const size_t kv_dim = (size_t)c->n_kv_heads * c->head_dim, q_dim = (size_t)c->n_heads * c->head_dim;
    const size_t b = (size_t)max_batch;
    st->n_ctx = n_ctx;
    st->max_batch = max_batch;
    /* calloc-like zeroing without touching pages: the cache is written before it is read. */
    size_t kv_floats = (size_t)c->n_layers * (size_t)n_ctx * kv_dim;
    st->k_cache = calloc(kv_floats, sizeof(float));
    st->v_cache = calloc(kv_floats, sizeof(float));
    st->x = alloc_floats(b * c->hidden);
    st->xn = alloc_floats(b * c->hidden);
    st->q = alloc_floats(b * q_dim);
    st->att = alloc_floats(b * q_dim);
    st->gate = alloc_floats(b * c->ffn);
    st->up = alloc_floats(b * c->ffn);
    st->logits = alloc_floats((size_t)c->vocab);
    if (!st->k_cache || !st->v_cache || !st->x || !st->xn || !st->q || !st->att || !st->gate ||
        !st->up || !st->logits) {
        mot_state_free(st);
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory for a context of %d tokens (%zu MiB of KV cache)",
                        ex->dir, n_ctx, mot_state_kv_bytes(ex, n_ctx) >> 20);
    }
    return MOT_OK;
}

void mot_state_free(mot_expert_state *st) {
    free(st->k_cache);
    free(st->v_cache);
    free(st->x);
    free(st->xn);
    free(st->q);
    free(st->att);
    free(st->gate);
    free(st->up);
    free(st->logits);
    memset(st, 0, sizeof *st);
}
