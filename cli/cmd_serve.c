/* mot serve -m MODEL | PIPELINE.yaml: an OpenAI-compatible HTTP server for one model or a MoT
 * pipeline (llama-server's and vLLM's /v1/completions and /v1/chat/completions). The
 * connections run on libmicrohttpd's threads (server/http_server.h); the model runs on this
 * thread, one request at a time in arrival order: one model's KV cache's common prefix reused
 * between requests (server/serve_model.h), a pipeline's requests each routed and run with the
 * interaction layers (server/serve_pipeline.h). Ctrl-C
 * or SIGTERM: the answer being generated ends at its next token, those waiting get 503, then
 * mot exits 0; a second signal ends mot at once. */
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/chat_flags.h"
#include "cli/commands.h"
#include "common/error.h"
#include "executor/backend_select.h"
#include "runtime/expert.h"
#include "runtime/mot_model.h"
#include "server/http_server.h"
#include "server/serve_model.h"
#include "server/serve_pipeline.h"
#include "tokenizer/tok_buf.h"
#include "tokenizer/utf8.h"

#define MOT_SERVE_MAX_BODY ((size_t)8 << 20) /* bytes of a request: ~2M tokens of text, past any context */
#define MOT_SERVE_MAX_CONNECTIONS 64

typedef struct {
    const char *model, *pipeline, *host, *alias, *api_key;
    int port, n_ctx, n_batch, n_predict, timeout_s;
    int n_predict_given, n_ctx_given, n_batch_given;
    mot_sampler_params sampler; /* the defaults of a request */
    mot_exec_flags exec;
    mot_chat_flags chat;
} serve_options;

static mot_status parse(int argc, char **argv, serve_options *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1", o->port = 8080, o->n_batch = 512, o->timeout_s = 600;
    /* OpenAI's defaults (vLLM's): temperature 1, nothing cut; llama.cpp's penalty window */
    o->sampler = (mot_sampler_params){.temperature = 1.0f, .top_p = 1.0f, .repeat_penalty = 1.0f,
                                      .repeat_last_n = 64};
    mot_exec_flags_init(&o->exec);
    mot_args a = {argc, argv, 0};
    unsigned sampler_given = 0; /* every default a request's: what is given does not matter */
    for (a.i = 0; a.i < argc; a.i++) {
        const char *f = argv[a.i];
        mot_status xst;
        if (mot_arg_exec(&a, &o->exec, &xst) || mot_arg_chat(&a, &o->chat, &xst) ||
            mot_arg_sampler(&a, &o->sampler, 2.0, &sampler_given, &xst)) { /* OpenAI's ±2 */
            MOT_TRY(xst);
        } else if (!strcmp(f, "-m") || !strcmp(f, "--model")) {
            MOT_TRY(mot_arg_str(&a, &o->model));
        } else if (!strcmp(f, "--host")) {
            MOT_TRY(mot_arg_str(&a, &o->host));
        } else if (!strcmp(f, "--port")) {
            MOT_TRY(mot_arg_int(&a, 0, 65535, &o->port));
        } else if (!strcmp(f, "-a") || !strcmp(f, "--alias")) {
            MOT_TRY(mot_arg_str(&a, &o->alias));
        } else if (!strcmp(f, "--api-key")) {
            MOT_TRY(mot_arg_str(&a, &o->api_key));
        } else if (!strcmp(f, "--timeout") || !strcmp(f, "-to")) {
            MOT_TRY(mot_arg_int(&a, 1, 86400, &o->timeout_s));
        } else if (!strcmp(f, "-c") || !strcmp(f, "--ctx-size")) {
            MOT_TRY(mot_arg_int(&a, 1, 1 << 24, &o->n_ctx));
            o->n_ctx_given = 1;
        } else if (!strcmp(f, "-b") || !strcmp(f, "--batch-size")) {
            MOT_TRY(mot_arg_int(&a, 1, 1 << 16, &o->n_batch));
            o->n_batch_given = 1;
        } else if (!strcmp(f, "-n") || !strcmp(f, "--n-predict")) {
            MOT_TRY(mot_arg_int(&a, -1, 1 << 24, &o->n_predict));
            o->n_predict_given = 1;
        } else if (f[0] == '-') {
            return mot_fail(MOT_ERR_ARG, "serve: unknown option '%s' (see mot --help)", f);
        } else if (o->pipeline) {
            return mot_fail(MOT_ERR_ARG, "serve: unexpected argument '%s' (one pipeline file at most)", f);
        } else {
            o->pipeline = f;
        }
    }
    if (!o->model == !o->pipeline) {
        return mot_fail(MOT_ERR_ARG, "serve: usage: mot serve -m MODEL | PIPELINE.yaml [--host 127.0.0.1] [--port 8080] "
                                     "[-c CTX] [--api-key KEY] [--alias NAME] [-t THREADS] [--backend auto|cpu|cuda] "
                                     "(a model or a pipeline file, exactly one)");
    }
    if (o->pipeline && (o->n_ctx_given || o->n_batch_given)) {
        return mot_fail(MOT_ERR_ARG, "serve: -c and -b apply to -m; a pipeline sizes each request's contexts from its "
                                     "prompt and max_tokens");
    }
    if (o->pipeline && o->chat.chat) {
        return mot_fail(MOT_ERR_ARG, "serve: --chat-template applies to -m; a pipeline turns chat on per expert "
                                     "(chat: true or chat_template: NAME in an expert's entry)");
    }
    if (o->chat.system) {
        return mot_fail(MOT_ERR_ARG, "serve: --system: a request gives its system message in its messages");
    }
    if (o->exec.profile_path) {
        return mot_fail(MOT_ERR_ARG, "serve: --profile records one run: profile `mot run` or `mot bench`");
    }
    if (o->api_key && !*o->api_key) {
        return mot_fail(MOT_ERR_ARG, "--api-key: empty (give a key, or leave the flag out for none)");
    }
    if (o->n_predict == 0 && o->n_predict_given) {
        return mot_fail(MOT_ERR_ARG, "-n: 0 would answer nothing (give N >= 1, or -1 for no limit)");
    }
    return MOT_OK;
}

static volatile sig_atomic_t stop_signal;
static volatile int stopping; /* what the model thread reads (serve_model.h) */

/* The first Ctrl-C / SIGTERM stops the server; the handler is then the default again
 * (SA_RESETHAND), so a second one ends mot at once. */
static void on_signal(int sig) {
    stop_signal = sig;
    stopping = 1;
}

/* The name in responses: --alias, else the model's (a file name) or the pipeline's, made
 * valid UTF-8. */
static char *model_id(const serve_options *o, const char *name) {
    if (o->alias) name = o->alias;
    tok_buf b = {0};
    if (tok_utf8_append_lossy(&b, name, strlen(name)) != MOT_OK || !b.data) {
        tok_buf_free(&b);
        return strdup("model");
    }
    return b.data;
}

/* The chat format for chat requests; a model without a (known) template still serves
 * completions, and its chat requests are refused with why. */
static void chat_format(const serve_options *o, const mot_tokenizer *tok, mot_serve_model *m, char *why, size_t n) {
    if (mot_chat_flags_format(&o->chat, tok, o->model, &m->chat) != MOT_OK) {
        m->chat = MOT_CHAT_NONE;
        snprintf(why, n, "%s", mot_last_error());
        m->chat_missing = why;
        fprintf(stderr, "mot: chat requests will be refused: %s\n", why);
        return;
    }
    fprintf(stderr, "mot: chat template %s%s\n", mot_chat_format_name(m->chat), o->chat.forced ? "" : " (the model's)");
}

/* What answers the jobs: one model on a slot, or a MoT pipeline. */
typedef struct {
    /* -m MODEL */
    mot_tokenizer *tok;
    mot_expert *ex;
    mot_serve_model single;
    char why[512];
    /* PIPELINE.yaml */
    mot_model *mm;
    mot_serve_pipeline pipe;
    char *id;
    int n_ctx;        /* -m: the slot's context; a pipeline: its smallest expert's */
} serve_models;

static mot_status load_model(const serve_options *o, serve_models *s) {
    mot_backend_options bo;
    mot_schedule sched;
    MOT_TRY(mot_schedule_resolve(&o->exec.sched, NULL, &sched, &bo));
    MOT_TRY(mot_expert_load_with_tokenizer(o->model, &s->tok, &s->ex));
    s->n_ctx = o->n_ctx ? o->n_ctx : s->ex->cfg.max_pos;
    const mot_engine_options eo = {.backend = bo, .sampler = o->sampler};
    mot_status st = mot_slot_open(&s->single.slot, s->ex, s->n_ctx, o->n_batch, &eo);
    if (st != MOT_OK) {
        return mot_fail_prefix(st, "%s: a context of %d tokens (%zu MiB of KV cache; -c sets it)", o->model, s->n_ctx,
                               mot_expert_kv_bytes(s->ex, s->n_ctx) >> 20);
    }
    s->single.ex = s->ex, s->single.tok = s->tok, s->single.model_id = s->id = model_id(o, s->ex->name);
    chat_format(o, s->tok, &s->single, s->why, sizeof s->why);
    return MOT_OK;
}

static mot_status load_pipeline(const serve_options *o, serve_models *s) {
    mot_schedule sched;
    MOT_TRY(mot_pipeline_for_exec(o->pipeline, &o->exec, &s->mm, &sched, &s->pipe.backend));
    /* Each request opens its own backend: one opened now says at once when it cannot be (no
     * device), not at the first request. */
    mot_backend *probe;
    MOT_TRY(mot_backend_create(&s->pipe.backend, &probe));
    probe->destroy(probe);
    s->pipe.m = s->mm;
    s->pipe.model_id = s->id = model_id(o, s->mm->pipe->name);
    s->n_ctx = s->mm->experts[0]->cfg.max_pos;
    for (int e = 0; e < s->mm->n_experts; e++) {
        const mot_pipeline_expert *pe = &s->mm->pipe->experts[e];
        if (s->mm->experts[e]->cfg.max_pos < s->n_ctx) s->n_ctx = s->mm->experts[e]->cfg.max_pos;
        fprintf(stderr, "mot: expert %s: %s\n", pe->name,
                s->mm->chat[e] != MOT_CHAT_NONE ? mot_chat_format_name(s->mm->chat[e])
                                                : "no chat (a chat request's last user message in its template)");
    }
    return MOT_OK;
}

static void free_models(serve_models *s) {
    mot_slot_close(&s->single.slot);
    mot_tokenizer_free(s->tok);
    mot_expert_free(s->ex);
    mot_model_free(s->mm);
    free(s->id);
}

/* Serves until a signal: jobs in arrival order on this thread. */
static mot_status serve(const serve_options *o) {
    serve_models s = {0};
    mot_http_server http = {.fd = -1};
    mot_status st = mot_http_listen(&http, o->host, o->port);
    if (st == MOT_OK) st = o->pipeline ? load_pipeline(o, &s) : load_model(o, &s);
    mot_serve_queue q;
    mot_serve_queue_init(&q);
    mot_http_config hc = {.model_id = s.id, .created = (long long)time(NULL), .api_key = o->api_key,
                          .completion = {o->sampler, o->n_predict_given ? o->n_predict : 16}, /* OpenAI's 16 */
                          .chat = {o->sampler, o->n_predict_given ? o->n_predict : -1},
                          .max_body = MOT_SERVE_MAX_BODY, .timeout_s = o->timeout_s,
                          .max_connections = MOT_SERVE_MAX_CONNECTIONS};
    s.single.stop = s.pipe.stop = &stopping;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESETHAND}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-answer is a failed send, not the end of mot */
    if (st == MOT_OK) st = mot_http_start(&http, &hc, &q);
    if (st == MOT_OK) {
        const int v6 = strchr(o->host, ':') != NULL;
        fprintf(stderr, "mot: serving %s%s on http://%s%s%s:%d (context %d tokens%s, threads %d); Ctrl-C stops\n",
                o->pipeline ? "MoT pipeline " : "", s.id, v6 ? "[" : "", o->host, v6 ? "]" : "", http.port, s.n_ctx,
                o->pipeline ? " at most" : "", omp_get_max_threads());
        while (!stop_signal) {
            mot_serve_job *j = mot_serve_queue_pop(&q, 0.2);
            if (j) {
                if (o->pipeline) {
                    mot_serve_pipeline_run(&s.pipe, &q, j);
                } else {
                    mot_serve_model_run(&s.single, &q, j);
                }
                mot_serve_job_release(&q, j, 0);
            }
        }
        fprintf(stderr, "mot: stopping (signal %d)\n", (int)stop_signal);
    }
    mot_serve_queue_stop(&q);
    mot_http_stop(&http);
    mot_serve_queue_destroy(&q);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free_models(&s);
    return st;
}

int mot_cmd_serve(int argc, char **argv) {
    serve_options o;
    mot_status st = parse(argc, argv, &o);
    if (st == MOT_OK) st = serve(&o);
    return st == MOT_OK ? 0 : mot_cli_fail(st);
}
