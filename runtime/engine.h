/* The engine: a routed set (or one expert) bound to a backend — the arena, the plan cache and
 * the samplers — driven one pass at a time. All generation goes through it:
 *   open -> prefill(prompts) -> decode ... -> close
 * After each pass `step` holds the state the pass left (tokens sampled, lanes alive). */
#ifndef MOT_RUNTIME_ENGINE_H
#define MOT_RUNTIME_ENGINE_H

#include "executor/backend.h"
#include "runtime/token_log.h"
#include "scheduler/plan_cache.h"

typedef struct {
    mot_backend_options backend;
    mot_sampler_params sampler;
    int plan_cache;         /* plans kept (default 8) */
} mot_engine_options;

typedef struct {
    mot_plan_source src;
    mot_arena_layout layout;
    mot_plan_cache plans;
    mot_backend *backend;
    mot_sampler samplers[MOT_MAX_LANES];
    mot_step_state step;    /* host copy, as the last pass left it */
    int fed[MOT_MAX_LANES]; /* lanes the last pass fed (and sampled) */
    int passes;
    struct mot_trace *trace;  /* profiling (NULL: off) */
    int allow_nonfinite;      /* NaN/inf in a prompt's logits: go on (else prefill fails) */
    int rebind;               /* the backend still holds launches bound with older sampling
                               * parameters (a samplers_changed that failed) */
} mot_engine;

/* src carries the sizes (ctx, max_rows per lane). Lane i samples from stream i of the seed. */
mot_status mot_engine_open(mot_engine *e, const mot_plan_source *src, const mot_engine_options *o);
void mot_engine_close(mot_engine *e);

/* Starts a request: lane i's prompt tokens[i][0..n[i]) from an empty cache. A single lane
 * longer than its max_rows runs in chunks; a MoT prompt must fit in one pass. Every lane
 * samples its first token. Logits with NaN/inf fail it (broken weights) unless the options
 * allow them. */
mot_status mot_engine_prefill(mot_engine *e, int *const *tokens, const int *n);
/* One lane only: feeds tokens[0..n) after what its cache holds (the prompt goes on; passes
 * of at most max_rows, the last with logits) and samples from the last. */
mot_status mot_engine_extend(mot_engine *e, const int *tokens, int n);
/* One lane only: forgets what its cache holds past its first pos tokens (pos <= what it
 * holds), so that the next extend writes from there: a conversation whose re-rendered text
 * differs from what was fed keeps the common prefix. */
mot_status mot_engine_rewind(mot_engine *e, int pos);
/* One lane only, between requests (a server's): new sampling parameters and seed. The
 * sampler starts afresh: its random stream from p->seed, its penalties' history the tokens
 * seen[0..n_seen) (what the request keeps of the cache; extend then adds what it feeds). */
mot_status mot_engine_set_sampler(mot_engine *e, const mot_sampler_params *p, const int *seen, int n_seen);
/* One decode step: every alive lane feeds the token it sampled last and samples the next. */
mot_status mot_engine_decode(mot_engine *e);
/* lane's logits of the last pass [vocab]. */
mot_status mot_engine_logits(mot_engine *e, int lane, float *out);
/* Lane 0's logits of every row the last prompt pass fed [n, vocab] (n <= that pass's rows):
 * an engine opened from a source with all_logits (perplexity). */
mot_status mot_engine_all_logits(mot_engine *e, int n, float *out);
/* Appends the token lane sampled in the last pass (and its logits row when keep_logits). */
mot_status mot_engine_log_token(mot_engine *e, int lane, int keep_logits, mot_token_log *log);

#endif
