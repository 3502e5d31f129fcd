/* Compiled plans kept per (routed set, phase, arena generation), least recently used first
 * out when the cache is full. */
#ifndef MOT_SCHEDULER_PLAN_CACHE_H
#define MOT_SCHEDULER_PLAN_CACHE_H

#include "scheduler/arena.h"

typedef struct {
    int capacity;
    int n;
    mot_plan **plans;   /* [capacity], most recently used last */
    uint64_t hits, misses, evictions;
} mot_plan_cache;

mot_status mot_plan_cache_init(mot_plan_cache *c, int capacity);
void mot_plan_cache_free(mot_plan_cache *c);

/* The plan for (src's lanes, phase, arena's generation): cached, or compiled and cached. The
 * returned plan stays valid until it is evicted (capacity later gets). */
mot_status mot_plan_cache_get(mot_plan_cache *c, const mot_plan_source *src, const mot_arena_layout *arena,
                              mot_phase phase, const mot_plan **out);

int mot_plan_key_equal(const mot_plan_key *a, const mot_plan_key *b);

#endif
