/* One job on a MoT pipeline (serve_pipeline.h). */
#include "server/serve_pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "runtime/expert_prompt.h"
#include "runtime/mot_generate.h"
#include "runtime/router.h"
#include "server/serve_answer.h"

/* The router's text and every active expert's prompt ids (lane order), then the tokens the
 * primary may generate: max_tokens, at most what the smallest context leaves. A failure is
 * the request's (400) unless out of memory. */
static mot_status prompts(const mot_model *m, const mot_oai_request *r, const mot_route *route, int **ids, int *n,
                          int *n_predict) {
    int fit = 0;
    for (int i = 0; i < route->k; i++) {
        const int e = route->active[i];
        const char *name = m->pipe->experts[e].name;
        mot_status st = r->kind == MOT_OAI_CHAT
                            ? mot_expert_prompt_messages(m, e, r->msgs, r->n_msgs, &ids[i], &n[i])
                            : mot_expert_prompt_tokens(m, e, r->prompt, NULL, &ids[i], &n[i]);
        if (st != MOT_OK) {
            return st == MOT_ERR_NOMEM ? st : mot_fail_prefix(st, "expert '%s'", name);
        }
        if (n[i] == 0) {
            return mot_fail(MOT_ERR_ARG, "expert '%s': the prompt is empty after tokenization", name);
        }
        /* positions: the prompt, then one per token after the first (SPEC 1.5) */
        const int left = m->experts[e]->cfg.max_pos - n[i] + 1;
        if (left < 1) {
            return mot_fail(MOT_ERR_ARG, "expert '%s': the prompt is %d of its tokens, its context only %d", name,
                            n[i], m->experts[e]->cfg.max_pos);
        }
        fit = i == 0 || left < fit ? left : fit;
    }
    *n_predict = r->max_tokens >= 0 && r->max_tokens < fit ? r->max_tokens : fit;
    return MOT_OK;
}

/* What the primary's tokens do while the session runs (mot_generate_opts.on_token). */
typedef struct {
    mot_serve_pipeline *p;
    mot_serve_answer *a;
    const mot_expert *primary;
    const mot_tokenizer *tok;
    const mot_oai_request *r;
    mot_session *session; /* the primary's logits: lane 0 of its engine */
    double t_first;    /* when the first token came (the prompt's time ends there) */
    int n_gen;
    const char *finish;
    int left;          /* the client went away */
    mot_status st;     /* an error giving the answer out */
} token_sink;

/* Non-zero ends generation: EOS, a stop string, the client gone, the server stopping. The
 * token limit is the session's (finish "length"). */
static int on_token(void *user, int token) {
    token_sink *s = user;
    if (s->n_gen++ == 0) { /* the answer begins: an engine that failed before this was a 500 */
        s->t_first = mot_now();
        mot_serve_answer_start(s->a, s->tok);
    }
    if (!s->r->ignore_eos && mot_config_is_eos(&s->primary->cfg, token)) {
        s->finish = "stop";
        return 1;
    }
    if ((s->st = mot_serve_answer_logprob(s->a, &s->session->engine, 0, token)) != MOT_OK ||
        (s->st = mot_serve_answer_push(s->a, token)) != MOT_OK || s->a->ss.stopped) {
        s->finish = "stop";
        return 1;
    }
    s->left = mot_serve_job_cancelled(s->a->q, s->a->j);
    return s->left || (s->p->stop && *s->p->stop);
}

static void free_prompts(int **ids, int k) {
    for (int i = 0; i < k && i < MOT_MAX_LANES; i++) {
        free(ids[i]);
    }
}

void mot_serve_pipeline_run(mot_serve_pipeline *p, mot_serve_queue *q, mot_serve_job *j) {
    const mot_model *m = p->m;
    const mot_oai_request *r = &j->req;
    mot_serve_answer a;
    if (!mot_serve_answer_init(&a, q, j, p->model_id, ++p->served)) {
        return;
    }
    const double t0 = mot_now();
    mot_route route = {0};
    int *ids[MOT_MAX_LANES] = {0}, n[MOT_MAX_LANES] = {0}, n_predict = 0;
    const char *text = r->kind == MOT_OAI_CHAT ? mot_last_user_message(r->msgs, r->n_msgs) : r->prompt;
    mot_status st = MOT_OK;
    if (!text) { /* the request parser lets only a completion's ids through here */
        st = mot_fail(MOT_ERR_ARG, "%s", r->kind == MOT_OAI_CHAT
                                             ? "'messages': no user message to route"
                                             : "'prompt': a MoT pipeline takes text, not token ids (its experts "
                                               "have their own tokenizers)");
    }
    if (st == MOT_OK) {
        st = mot_route_prompt(m, text, r->experts, NULL, 0, &route);
        const char *msg = mot_last_error(), *flag = "--experts: ";
        if (st == MOT_ERR_ARG && !strncmp(msg, flag, strlen(flag))) { /* the router speaks of the flag */
            char why[512];
            snprintf(why, sizeof why, "%s", msg + strlen(flag));
            st = mot_fail(MOT_ERR_ARG, "'experts': %s", why);
        }
        if (st == MOT_OK && route.k > MOT_MAX_LANES) {
            st = mot_fail(MOT_ERR_ARG, "'experts': %d experts, at most %d run at once", route.k, MOT_MAX_LANES);
        }
    }
    if (st == MOT_OK) st = prompts(m, r, &route, ids, n, &n_predict);
    if (st != MOT_OK) {
        free_prompts(ids, route.k);
        mot_route_free(&route);
        /* a router that scores NaN, like the files, is the server's */
        mot_serve_answer_fail(&a, st == MOT_ERR_ARG ? 400 : 500);
        return;
    }
    const char *names[MOT_MAX_LANES];
    for (int i = 0; i < route.k; i++) {
        names[i] = m->pipe->experts[route.active[i]].name;
    }
    a.head.experts = names, a.head.n_experts = route.k;

    const mot_expert *primary = m->experts[route.active[0]];
    mot_session s = {0};
    token_sink sink = {p, &a, primary, m->tokenizers[route.active[0]], r, &s, 0, 0, "length", 0, MOT_OK};
    mot_generate_opts g = {.n_predict = n_predict, .sampler = mot_serve_request_sampler(r),
                           .ignore_eos = r->ignore_eos, .backend = p->backend, .on_token = on_token, .user = &sink};
    st = mot_session_generate_ids(m, &route, ids, n, &g, &s);
    if (st == MOT_OK) st = sink.st;
    free_prompts(ids, route.k);
    const double t2 = mot_now();
    mot_session_free(&s);
    if (st != MOT_OK) {
        mot_route_free(&route);
        mot_serve_answer_fail(&a, 500);
        return;
    }
    if (!a.started) mot_serve_answer_start(&a, sink.tok); /* (a session always samples one token) */
    const mot_oai_usage u = {n[0], sink.n_gen, 0};
    if (mot_serve_answer_end(&a, sink.finish, &u) == MOT_OK) {
        char set[256] = "";
        for (int i = 0, at = 0; i < route.k && at < (int)sizeof set; i++) {
            at += snprintf(set + at, sizeof set - (size_t)at, "%s%s", i ? "," : "", names[i]);
        }
        fprintf(stderr,
                "mot: %s 200 | experts %s | prompt %d tokens (primary's), %.1f ms | generation %d tokens, %.2f tok/s | "
                "%s%s\n",
                j->route, set, n[0], (sink.t_first - t0) * 1e3, sink.n_gen,
                t2 > sink.t_first && sink.n_gen > 1 ? (sink.n_gen - 1) / (t2 - sink.t_first) : 0.0, sink.finish,
                sink.left ? " (the client left)" : "");
    }
    mot_route_free(&route);
}
