/* mot serve -m MODEL: an OpenAI-compatible HTTP server for one model (llama-server's and vLLM's
 * /v1/completions and /v1/chat/completions). The connections run on libmicrohttpd's threads
 * (server/http_server.h); the model runs on this thread, one request at a time in arrival
 * order, its KV cache's common prefix reused between requests (server/serve_model.h). Ctrl-C
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
#include "runtime/expert.h"
#include "server/http_server.h"
#include "server/serve_model.h"
#include "tokenizer/tok_buf.h"
#include "tokenizer/utf8.h"

#define MOT_SERVE_MAX_BODY ((size_t)8 << 20) /* bytes of a request: ~2M tokens of text, past any context */
#define MOT_SERVE_MAX_CONNECTIONS 64

typedef struct {
    const char *model, *host, *alias, *api_key;
    int port, n_ctx, n_batch, n_predict, timeout_s;
    int n_predict_given;
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
        } else if (!strcmp(f, "-b") || !strcmp(f, "--batch-size")) {
            MOT_TRY(mot_arg_int(&a, 1, 1 << 16, &o->n_batch));
        } else if (!strcmp(f, "-n") || !strcmp(f, "--n-predict")) {
            MOT_TRY(mot_arg_int(&a, -1, 1 << 24, &o->n_predict));
            o->n_predict_given = 1;
        } else if (f[0] == '-') {
            return mot_fail(MOT_ERR_ARG, "serve: unknown option '%s' (see mot --help)", f);
        } else {
            return mot_fail(MOT_ERR_ARG, "serve: unexpected argument '%s' (the model is -m MODEL)", f);
        }
    }
    if (!o->model) {
        return mot_fail(MOT_ERR_ARG, "serve: usage: mot serve -m MODEL [--host 127.0.0.1] [--port 8080] [-c CTX] "
                                     "[--api-key KEY] [--alias NAME] [-t THREADS] [--backend auto|cpu|cuda]");
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

/* The model's name in responses: --alias, else the model's (a file name made valid UTF-8). */
static char *model_id(const serve_options *o, const mot_expert *ex) {
    const char *name = o->alias ? o->alias : ex->name;
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

/* Serves until a signal: jobs in arrival order on this thread. */
static mot_status serve(const serve_options *o) {
    mot_backend_options bo;
    mot_schedule sched;
    mot_tokenizer *tok = NULL;
    mot_expert *ex = NULL;
    mot_serve_model m = {0};
    char why[512], *id = NULL;
    mot_http_server http = {.fd = -1};
    mot_status st = mot_schedule_resolve(&o->exec.sched, NULL, &sched, &bo);
    if (st == MOT_OK) st = mot_http_listen(&http, o->host, o->port);
    if (st == MOT_OK) st = mot_expert_load_with_tokenizer(o->model, &tok, &ex);
    const int n_ctx = o->n_ctx ? o->n_ctx : (ex ? ex->cfg.max_pos : 0);
    if (st == MOT_OK) {
        const mot_engine_options eo = {.backend = bo, .sampler = o->sampler};
        st = mot_slot_open(&m.slot, ex, n_ctx, o->n_batch, &eo);
        if (st != MOT_OK) {
            st = mot_fail_prefix(st, "%s: a context of %d tokens (%zu MiB of KV cache; -c sets it)", o->model, n_ctx,
                                 mot_expert_kv_bytes(ex, n_ctx) >> 20);
        }
    }
    if (st == MOT_OK) {
        m.ex = ex, m.tok = tok, m.model_id = id = model_id(o, ex);
        chat_format(o, tok, &m, why, sizeof why);
    }
    mot_serve_queue q;
    mot_serve_queue_init(&q);
    mot_http_config hc = {.model_id = id, .created = (long long)time(NULL), .api_key = o->api_key,
                          .completion = {o->sampler, o->n_predict_given ? o->n_predict : 16}, /* OpenAI's 16 */
                          .chat = {o->sampler, o->n_predict_given ? o->n_predict : -1},
                          .max_body = MOT_SERVE_MAX_BODY, .timeout_s = o->timeout_s,
                          .max_connections = MOT_SERVE_MAX_CONNECTIONS};
    m.stop = &stopping;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESETHAND}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-answer is a failed send, not the end of mot */
    if (st == MOT_OK) st = mot_http_start(&http, &hc, &q);
    if (st == MOT_OK) {
        const int v6 = strchr(o->host, ':') != NULL;
        fprintf(stderr, "mot: serving %s on http://%s%s%s:%d (context %d tokens, threads %d); Ctrl-C stops\n", id,
                v6 ? "[" : "", o->host, v6 ? "]" : "", http.port, n_ctx, omp_get_max_threads());
        while (!stop_signal) {
            mot_serve_job *j = mot_serve_queue_pop(&q, 0.2);
            if (j) {
                mot_serve_model_run(&m, &q, j);
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
    mot_slot_close(&m.slot);
    free(id);
    mot_tokenizer_free(tok);
    mot_expert_free(ex);
    return st;
}

int mot_cmd_serve(int argc, char **argv) {
    serve_options o;
    mot_status st = parse(argc, argv, &o);
    if (st == MOT_OK) st = serve(&o);
    return st == MOT_OK ? 0 : mot_cli_fail(st);
}
