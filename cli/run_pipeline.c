/* mot run PIPELINE.yaml -p TEXT: route the prompt, run the active experts with the
 * interaction layers, stream the primary's text; the route and the figures go to stderr. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/profile_session.h"
#include "cli/run_options.h"
#include "cli/text_stream.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/mapped_file.h"
#include "runtime/dump.h"
#include "runtime/generate.h"
#include "runtime/mot_generate.h"

/* The pipeline's sampler section, overridden by the flags that were given. */
static mot_generate_opts generate_opts(const mot_pipeline *p, const run_options *o) {
    mot_generate_opts g = {0};
    g.sampler.temperature = (o->sampler_given & MOT_GIVEN_TEMP) ? o->sampler.temperature : p->sampler.temperature;
    g.sampler.top_k = (o->sampler_given & MOT_GIVEN_TOP_K) ? o->sampler.top_k : p->sampler.top_k;
    g.sampler.top_p = (o->sampler_given & MOT_GIVEN_TOP_P) ? o->sampler.top_p : p->sampler.top_p;
    g.sampler.min_p = (o->sampler_given & MOT_GIVEN_MIN_P) ? o->sampler.min_p : p->sampler.min_p;
    g.sampler.repeat_penalty = (o->sampler_given & MOT_GIVEN_REPEAT) ? o->sampler.repeat_penalty : p->sampler.repeat_penalty;
    g.sampler.repeat_last_n = (o->sampler_given & MOT_GIVEN_LAST_N) ? o->sampler.repeat_last_n : p->sampler.repeat_last_n;
    g.sampler.presence_penalty = (o->sampler_given & MOT_GIVEN_PRESENCE) ? o->sampler.presence_penalty : p->sampler.presence_penalty;
    g.sampler.frequency_penalty = (o->sampler_given & MOT_GIVEN_FREQUENCY) ? o->sampler.frequency_penalty : p->sampler.frequency_penalty;
    g.sampler.seed = o->seed_given ? o->sampler.seed : p->sampler.seed;
    g.n_predict = o->n_predict_given && o->n_predict > 0 ? o->n_predict : p->sampler.max_tokens;
    g.keep_logits = o->dump_path != NULL;
    g.ignore_eos = o->ignore_eos; /* and no other lane dies at its EOS either */
    g.system = o->chat.system;
    return g;
}

static int any_chat(const mot_model *m) {
    for (int e = 0; e < m->n_experts; e++) {
        if (m->chat[e] != MOT_CHAT_NONE) {
            return 1;
        }
    }
    return 0;
}

mot_status mot_run_pipeline(const run_options *o, const char *prompt) {
    mot_model *m = NULL;
    mot_route route = {0};
    mot_session session = {0};
    mot_status st = MOT_OK;
    if (o->n_predict_given && o->n_predict == 0) {
        st = mot_fail(MOT_ERR_ARG, "-n: a pipeline run generates at least one token");
    }
    mot_profile_session prof = {0};
    mot_backend_options backend;
    if (st == MOT_OK) st = mot_profile_begin(&prof, o->exec.profile_path, o->exec.force);
    mot_schedule sched; /* the pipeline may name its schedule; --schedule and the flags win */
    if (st == MOT_OK) st = mot_pipeline_for_exec(o->pipeline, &o->exec, &m, &sched, &backend);
    if (st == MOT_OK) backend.trace = mot_profile_trace(&prof);
    if (st == MOT_OK && o->chat.system && !any_chat(m)) {
        st = mot_fail(MOT_ERR_ARG, "--system: no expert of %s has chat (add chat: true or chat_template: NAME to "
                                   "an expert's entry)", o->pipeline);
    }
    const double route_t0 = mot_now();
    if (st == MOT_OK) st = mot_route_prompt(m, prompt, o->experts, o->drop, o->n_drop, &route);
    if (st == MOT_OK) {
        mot_profile_router(&prof, route_t0, mot_now());
        for (int i = 0; i < route.k; i++) {
            mot_profile_lane(&prof, i, route.active[i], m->pipe->experts[route.active[i]].name);
        }
        mot_route_print(stderr, m, &route, "mot: ");
        mot_text_stream stream;
        mot_generate_opts g = generate_opts(m->pipe, o);
        g.backend = backend;
        mot_text_stream_init(&stream, m->tokenizers[route.active[0]], stdout);
        g.on_token = mot_text_stream_on_token;
        g.user = &stream;
        st = mot_session_generate(m, &route, prompt, &g, &session);
        st = mot_text_stream_end(&stream, st);
    }
    if (st == MOT_OK) {
        int n_prompt = session.lanes[0].n_prompt, n_gen = session.lanes[0].sampled.n;
        fprintf(stderr,
                "mot: prompt %d tokens (primary), %.2f tok/s | generation %d tokens, %.2f tok/s | %d experts | threads %d\n",
                n_prompt, session.prefill_s > 0 ? n_prompt / session.prefill_s : 0.0, n_gen,
                session.decode_s > 0 ? session.n_decode_steps / session.decode_s : 0.0, session.n_lanes,
                omp_get_max_threads());
    }
    if (st == MOT_OK && o->dump_path) {
        st = mot_session_dump(&session, o->dump_path, o->exec.force);
    }
    st = mot_profile_end(&prof, st);
    mot_session_free(&session);
    mot_route_free(&route);
    mot_model_free(m);
    return st;
}
