/* mot run -m MODEL_DIR -p TEXT: plain generation with one expert, text streamed to stdout,
 * one line of figures on stderr. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/profile_session.h"
#include "cli/run_conversation.h"
#include "cli/text_stream.h"
#include "common/error.h"
#include "common/mapped_file.h"
#include "common/safe_write.h"
#include "runtime/chat_prompt.h"
#include "runtime/dump.h"
#include "runtime/generate.h"
#include "tokenizer/tokenizer.h"

#include "cli/run_options.h"

/* The prompt of `mot run`, from -p or -f, for both the single-expert and the pipeline paths.
 * -f files up to 16 MiB: about 4M tokens, past any context window (docs/models.md, "Limits"). */
#define MOT_MAX_PROMPT_FILE_BYTES ((size_t)16 << 20)

/* The prompt text: -p as given, or the -f file read into *buf (the caller frees *buf). A NUL
 * byte in the file is an error (it would silently cut the prompt). */
static mot_status run_prompt(const run_options *o, const char **prompt, char **buf) {
    *prompt = o->prompt;
    if (!o->prompt_file) {
        return MOT_OK;
    }
    mot_status st = mot_read_text_file_max(o->prompt_file, MOT_MAX_PROMPT_FILE_BYTES, "prompt file", buf);
    *prompt = *buf;
    return st;
}

static mot_status parse_run(int argc, char **argv, run_options *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->n_predict_given = 0;
    o->n_batch = 512;
    o->sampler = (mot_sampler_params){.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                                      .repeat_penalty = 1.0f, .repeat_last_n = 64}; /* llama.cpp's */
    mot_exec_flags_init(&o->exec);
    mot_args a = {argc, argv, 0};
    for (a.i = 0; a.i < argc; a.i++) {
        const char *f = argv[a.i];
        mot_status xst;
        if (mot_arg_exec(&a, &o->exec, &xst) || mot_arg_chat(&a, &o->chat, &xst) ||
            mot_arg_sampler(&a, &o->sampler, 1e6, &o->sampler_given, &xst)) {
            MOT_TRY(xst);
        } else if (!strcmp(f, "-m") || !strcmp(f, "--model")) {
            MOT_TRY(mot_arg_str(&a, &o->model_dir));
        } else if (!strcmp(f, "-p") || !strcmp(f, "--prompt")) {
            MOT_TRY(mot_arg_str(&a, &o->prompt));
        } else if (!strcmp(f, "-f") || !strcmp(f, "--file")) {
            MOT_TRY(mot_arg_str(&a, &o->prompt_file));
        } else if (!strcmp(f, "-n") || !strcmp(f, "--n-predict")) {
            MOT_TRY(mot_arg_int(&a, -1, 1 << 24, &o->n_predict));
            o->n_predict_given = 1;
        } else if (!strcmp(f, "--seed") || !strcmp(f, "-s")) {
            unsigned long long seed;
            MOT_TRY(mot_arg_u64(&a, &seed));
            o->sampler.seed = seed;
            o->seed_given = 1;
        } else if (!strcmp(f, "-c") || !strcmp(f, "--ctx-size")) {
            MOT_TRY(mot_arg_int(&a, 1, 1 << 24, &o->n_ctx));
        } else if (!strcmp(f, "-b") || !strcmp(f, "--batch-size")) {
            MOT_TRY(mot_arg_int(&a, 1, 1 << 16, &o->n_batch));
            o->n_batch_given = 1;
        } else if (!strcmp(f, "-cnv") || !strcmp(f, "--conversation")) {
            o->conversation = 1;
            o->chat.chat = 1; /* a conversation is in the chat template */
        } else if (!strcmp(f, "--ignore-eos")) {
            o->ignore_eos = 1;
        } else if (!strcmp(f, "--dump")) {
            MOT_TRY(mot_arg_str(&a, &o->dump_path));
        } else if (!strcmp(f, "--experts")) {
            MOT_TRY(mot_arg_str(&a, &o->experts));
        } else if (!strcmp(f, "--drop")) {
            if (o->n_drop == MOT_MAX_DROP) {
                return mot_fail(MOT_ERR_ARG, "--drop: at most %d experts", MOT_MAX_DROP);
            }
            MOT_TRY(mot_arg_str(&a, &o->drop[o->n_drop]));
            o->n_drop++;
        } else if (f[0] == '-') {
            return mot_fail(MOT_ERR_ARG, "run: unknown option '%s' (see mot run --help)", f);
        } else if (o->pipeline) {
            return mot_fail(MOT_ERR_ARG, "run: unexpected argument '%s' (one pipeline file at most)", f);
        } else {
            o->pipeline = f;
        }
    }
    if (!o->model_dir == !o->pipeline) {
        return mot_fail(MOT_ERR_ARG, "run: give a pipeline file or -m MODEL_DIR (exactly one)");
    }
    if (o->model_dir && (o->experts || o->n_drop)) {
        return mot_fail(MOT_ERR_ARG, "run: --experts and --drop need a pipeline file, not -m");
    }
    if (o->ignore_eos && o->conversation) {
        return mot_fail(MOT_ERR_ARG, "run: --ignore-eos does not go with --conversation (a reply ends at its EOS)");
    }
    if (o->pipeline && o->conversation) {
        return mot_fail(MOT_ERR_ARG, "run: --conversation applies to -m runs (a MoT pipeline answers one prompt)");
    }
    if (o->pipeline && o->chat.chat) {
        return mot_fail(MOT_ERR_ARG, "run: --chat and --chat-template apply to -m runs; a pipeline turns chat on per "
                                     "expert (chat: true or chat_template: NAME in its entry)");
    }
    if (o->model_dir) {
        MOT_TRY(mot_chat_flags_check(&o->chat));
    }
    if (o->pipeline && (o->n_ctx || o->n_batch_given)) {
        return mot_fail(MOT_ERR_ARG, "run: -c and -b apply to -m runs; a pipeline sizes each expert's context from its prompt and -n");
    }

    if (!o->prompt && !o->prompt_file && !o->conversation) {
        return mot_fail(MOT_ERR_ARG, "run: a prompt is required (-p TEXT or -f FILE; or --conversation to read turns from "
                                     "standard input)");
    }
    if (o->prompt && o->prompt_file) {
        return mot_fail(MOT_ERR_ARG, "run: give -p or -f, not both");
    }
    if (o->dump_path) {
        /* Refused now, not after the whole generation (common/safe_write.h). */
        const mot_status st = mot_out_check(o->dump_path, o->exec.force);
        if (st != MOT_OK) {
            return mot_fail_prefix(st, "--dump");
        }
    }
    if (!o->seed_given) {
        o->sampler.seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
    }
    return MOT_OK;
}

/* The chat format of a --chat run (or a conversation), said on stderr. */
static mot_status chat_format(const run_options *o, const mot_tokenizer *tok, mot_chat_format *f) {
    MOT_TRY(mot_chat_flags_format(&o->chat, tok, o->model_dir, f));
    fprintf(stderr, "mot: chat template %s%s\n", mot_chat_format_name(*f), o->chat.forced ? "" : " (the model's)");
    return MOT_OK;
}

/* The random seed on stderr when it was not given and sampling uses it (to rerun a run). */
static void say_seed(const run_options *o) {
    if (!o->seed_given && o->sampler.temperature > 0) {
        fprintf(stderr, "mot: seed %llu\n", (unsigned long long)o->sampler.seed);
    }
}

/* The prompt's ids: the text as given (BOS as the tokenizer adds it), or wrapped in the chat
 * template (runtime/chat_prompt.h: exactly one BOS, no EOS). */
static mot_status encode_prompt(const run_options *o, const mot_tokenizer *tok, const char *prompt, int **ids,
                                int *n) {
    if (!o->chat.chat) {
        return mot_tokenizer_encode(tok, prompt, 1, ids, n);
    }
    mot_chat_format f;
    MOT_TRY(chat_format(o, tok, &f));
    return mot_chat_encode(tok, f, o->chat.system, prompt, ids, n);
}

/* Out of memory with a context whose KV cache takes a GiB or more: how much, and that -c
 * lowers it (the default context, max_position_embeddings, may be far more than a prompt needs). */
static mot_status context_hint(mot_status st, const run_options *o, const mot_expert *ex, int n_ctx) {
    const size_t kv_mib = mot_expert_kv_bytes(ex, n_ctx) >> 20;
    if (kv_mib < 1024) {
        return st; /* the context is not what filled the memory */
    }
    char first[512];
    snprintf(first, sizeof first, "%s", mot_last_error());
    if (o->n_ctx) {
        return mot_fail(st, "%s; the context of %d tokens (-c) needs %zu MiB of KV cache: lower -c", first, n_ctx,
                        kv_mib);
    }
    return mot_fail(st,
                    "%s; the context of %d tokens (max_position_embeddings, the default of -c) needs %zu MiB of KV "
                    "cache: give a smaller one with -c N (e.g. -c 4096)",
                    first, n_ctx, kv_mib);
}

/* --conversation: the chat format, then turns until the end of the input (run_conversation.h). */
static mot_status converse(const run_options *o, const mot_tokenizer *tok, const mot_expert *ex,
                           const mot_generate_params *gp, const char *first, mot_profile_session *prof) {
    mot_chat_format f;
    MOT_TRY(chat_format(o, tok, &f));
    say_seed(o);
    const int n_ctx = o->n_ctx ? o->n_ctx : ex->cfg.max_pos;
    mot_profile_lane(prof, 0, 0, ex->name);
    mot_status st = mot_run_conversation(o, ex, tok, f, n_ctx, gp, first);
    return st == MOT_ERR_NOMEM ? context_hint(st, o, ex, n_ctx) : st;
}

/* One expert alone: plain generation, or a conversation. */
static mot_status run(const run_options *o) {
    mot_tokenizer *tok = NULL;
    mot_expert *ex = NULL;
    mot_generate_result res = {0};
    mot_profile_session prof = {0};
    mot_generate_params gp = {.n_predict = o->n_predict, .sampler = o->sampler, .keep_logits = o->dump_path != NULL,
                              .ignore_eos = o->ignore_eos};
    mot_text_stream stream;
    char *prompt_buf = NULL;
    const char *prompt;
    int *prompt_ids = NULL, n_prompt = 0;

    mot_schedule sched;
    mot_status st = mot_schedule_resolve(&o->exec.sched, NULL, &sched, &gp.backend);
    if (st == MOT_OK) st = mot_profile_begin(&prof, o->exec.profile_path, o->exec.force);
    gp.backend.trace = mot_profile_trace(&prof);
    if (st == MOT_OK) st = run_prompt(o, &prompt, &prompt_buf); /* NULL: none (a conversation) */
    if (st == MOT_OK) st = mot_expert_load_with_tokenizer(o->model_dir, &tok, &ex);
    if (st == MOT_OK && o->conversation) {
        st = converse(o, tok, ex, &gp, prompt, &prof);
        goto done; /* the rest is the one-prompt run's */
    }
    if (st == MOT_OK) st = encode_prompt(o, tok, prompt, &prompt_ids, &n_prompt);
    if (st == MOT_OK && n_prompt == 0) {
        st = mot_fail(MOT_ERR_ARG, "run: the prompt is empty after tokenization (and the tokenizer adds no BOS)");
    }
    int n_ctx = o->n_ctx ? o->n_ctx : (ex ? ex->cfg.max_pos : 0);
    if (st == MOT_OK && n_prompt >= n_ctx) {
        st = mot_fail(MOT_ERR_ARG, "run: the prompt is %d tokens, the context only %d (raise -c)", n_prompt, n_ctx);
    }
    if (st == MOT_OK) {
        say_seed(o);
        mot_text_stream_init(&stream, tok, stdout);
        gp.on_token = mot_text_stream_on_token;
        gp.user = &stream;
        mot_profile_lane(&prof, 0, 0, ex->name);
        st = mot_generate(ex, n_ctx, o->n_batch, prompt_ids, n_prompt, &gp, &res);
        if (st == MOT_ERR_NOMEM) st = context_hint(st, o, ex, n_ctx);
        st = mot_text_stream_end(&stream, st);
    }
    if (st == MOT_OK) {
        int n_decoded = res.sampled.n > 0 ? res.sampled.n - 1 : 0; /* the first token came from prefill */
        fprintf(stderr,
                "mot: prompt %d tokens, %.2f tok/s | generation %d tokens, %.2f tok/s | threads %d\n",
                n_prompt, res.prompt_s > 0 ? n_prompt / res.prompt_s : 0.0, res.sampled.n,
                res.gen_s > 0 ? n_decoded / res.gen_s : 0.0, omp_get_max_threads());
    }
    if (st == MOT_OK && o->dump_path) {
        st = mot_dump_single(o->dump_path, ex->name, prompt_ids, n_prompt, &res.sampled, ex->cfg.vocab,
                             o->exec.force);
    }
done:
    st = mot_profile_end(&prof, st);
    mot_generate_result_free(&res);
    free(prompt_ids);
    free(prompt_buf);
    mot_tokenizer_free(tok);
    mot_expert_free(ex);
    return st;
}

int mot_cmd_run(int argc, char **argv) {
    run_options o;
    mot_status st = parse_run(argc, argv, &o);
    if (st != MOT_OK) {
        return mot_cli_fail(st);
    }
    if (o.pipeline) {
        char *prompt_buf = NULL;
        const char *prompt;
        st = run_prompt(&o, &prompt, &prompt_buf);
        if (st == MOT_OK) st = mot_run_pipeline(&o, prompt);
        free(prompt_buf);
    } else {
        st = run(&o);
    }
    return st == MOT_OK ? 0 : mot_cli_fail(st);
}
