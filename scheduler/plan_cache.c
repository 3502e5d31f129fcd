#include "scheduler/plan_cache.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

mot_status mot_plan_cache_init(mot_plan_cache *c, int capacity) {
    memset(c, 0, sizeof *c);
    c->capacity = capacity > 0 ? capacity : 1;
    c->plans = calloc((size_t)c->capacity, sizeof *c->plans);
    return c->plans ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "plan cache: out of memory");
}

void mot_plan_cache_free(mot_plan_cache *c) {
    for (int i = 0; i < c->n; i++) {
        mot_plan_free(c->plans[i]);
    }
    free(c->plans);
    memset(c, 0, sizeof *c);
}

int mot_plan_key_equal(const mot_plan_key *a, const mot_plan_key *b) {
    if (a->n_lanes != b->n_lanes || a->phase != b->phase || a->arena_generation != b->arena_generation) {
        return 0;
    }
    for (int i = 0; i < a->n_lanes; i++) {
        if (a->experts[i] != b->experts[i]) {
            return 0;
        }
    }
    return 1;
}

mot_status mot_plan_cache_get(mot_plan_cache *c, const mot_plan_source *src, const mot_arena_layout *arena,
                              mot_phase phase, const mot_plan **out) {
    mot_plan_key key;
    memset(&key, 0, sizeof key);
    key.n_lanes = src->n_lanes;
    memcpy(key.experts, src->expert, sizeof key.experts);
    key.phase = phase;
    key.arena_generation = arena->generation;
    for (int i = 0; i < c->n; i++) {
        if (mot_plan_key_equal(&c->plans[i]->key, &key)) {
            mot_plan *hit = c->plans[i]; /* move to the back: most recently used */
            memmove(&c->plans[i], &c->plans[i + 1], (size_t)(c->n - i - 1) * sizeof *c->plans);
            c->plans[c->n - 1] = hit;
            c->hits++;
            *out = hit;
            return MOT_OK;
        }
    }
    mot_plan *p;
    MOT_TRY(mot_plan_compile(src, arena, phase, &p));
    c->misses++;
    if (c->n == c->capacity) {
        mot_plan_free(c->plans[0]);
        memmove(&c->plans[0], &c->plans[1], (size_t)(c->n - 1) * sizeof *c->plans);
        c->n--;
        c->evictions++;
    }
    c->plans[c->n++] = p;
    *out = p;
    return MOT_OK;
}
