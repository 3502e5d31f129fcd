/* MoT generation over a routed set (SPEC 1.5): prefill every active expert with the
 * interaction layers, then decode with every alive expert advancing its own token. */
#ifndef MOT_RUNTIME_MOT_GENERATE_H
#define MOT_RUNTIME_MOT_GENERATE_H

#include "runtime/engine.h"
#include "runtime/mot_model.h"
#include "runtime/router.h"
#include "runtime/token_log.h"

/* One active expert's run: lane 0 is the primary. */
typedef struct {
    int expert;            /* pipeline index */
    int ctx;               /* positions its caches hold */
    int *prompt;           /* [n_prompt] its templated prompt in its own tokens */
    int n_prompt;
    int alive;
    mot_token_log sampled; /* tokens [T], logits [T, vocab] when kept */
} mot_lane;

typedef struct {
    int n_predict;         /* max tokens of the primary (>= 1) */
    mot_sampler_params sampler;
    int keep_logits;
    int ignore_eos;        /* benchmarks, --ignore-eos: nobody dies, the primary runs to n_predict */
    const char *system;    /* the system message for experts with chat (NULL: none) */
    mot_backend_options backend;
    /* Called with each token the primary samples; non-zero stops. */
    int (*on_token)(void *user, int token);
    void *user;
} mot_generate_opts;

typedef struct {
    const mot_model *m;
    const mot_route *route;
    int n_lanes;
    mot_lane *lanes;
    mot_engine engine;
    double prefill_s, decode_s;
    double interaction_s;        /* of which: interaction layers (projectors + cross-attention),
                                    when opts.backend.timing */
    int n_decode_steps;
} mot_session;

/* prompt: the raw text; each expert tokenizes it after applying its template, or its chat
 * template (with opts->system) when its entry turns chat on. */
mot_status mot_session_generate(const mot_model *m, const mot_route *route, const char *prompt,
                                const mot_generate_opts *opts, mot_session *s);
/* The same with every lane's prompt already in its own token ids (benchmarks):
 * prompts[i] / n_prompts[i] for lane i (route->active[i]). */
mot_status mot_session_generate_ids(const mot_model *m, const mot_route *route, int *const *prompts,
                                    const int *n_prompts, const mot_generate_opts *opts, mot_session *s);
void mot_session_free(mot_session *s);

#endif
