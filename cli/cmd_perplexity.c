/* mot perplexity -m MODEL -f TEXT [-c 512] [-b 512] [--chunks N] [--dump FILE]: the model's
 * perplexity over a text as llama.cpp's llama-perplexity computes and prints it
 * (runtime/perplexity.h): "[1]8.1234,[2]..." a chunk at a time on stdout, then
 * "Final estimate: PPL = X +/- E"; what it does and how fast on stderr. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/profile_session.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/mapped_file.h"
#include "common/safe_write.h"
#include "model/safetensors.h"
#include "runtime/perplexity.h"
#include "tokenizer/tokenizer.h"

/* A corpus up to 64 MiB (wikitext-103's test split is 1.3 MiB; its train split 540 MiB is
 * for training, not for this). */
#define MOT_MAX_CORPUS_BYTES ((size_t)64 << 20)

typedef struct {
    const char *model, *text_path, *dump_path;
    int n_ctx, n_batch, chunks;
    mot_exec_flags exec;
} ppl_options;

static mot_status parse(int argc, char **argv, ppl_options *o) {
    memset(o, 0, sizeof *o);
    o->n_ctx = 512; /* the context the published wikitext-2 figures use (docs/cli.md) */
    o->n_batch = 512;
    mot_exec_flags_init(&o->exec);
    mot_args a = {argc, argv, 0};
    for (a.i = 0; a.i < argc; a.i++) {
        const char *f = argv[a.i];
        mot_status xst;
        if (mot_arg_exec(&a, &o->exec, &xst)) {
            MOT_TRY(xst);
        } else if (!strcmp(f, "-m") || !strcmp(f, "--model")) {
            MOT_TRY(mot_arg_str(&a, &o->model));
        } else if (!strcmp(f, "-f") || !strcmp(f, "--file")) {
            MOT_TRY(mot_arg_str(&a, &o->text_path));
        } else if (!strcmp(f, "-c") || !strcmp(f, "--ctx-size")) {
            MOT_TRY(mot_arg_int(&a, 4, 1 << 20, &o->n_ctx));
        } else if (!strcmp(f, "-b") || !strcmp(f, "--batch-size")) {
            MOT_TRY(mot_arg_int(&a, 1, 1 << 16, &o->n_batch));
        } else if (!strcmp(f, "--chunks")) {
            MOT_TRY(mot_arg_int(&a, 1, 1 << 30, &o->chunks));
        } else if (!strcmp(f, "--dump")) {
            MOT_TRY(mot_arg_str(&a, &o->dump_path));
        } else if (f[0] == '-') {
            return mot_fail(MOT_ERR_ARG, "perplexity: unknown option '%s' (see mot --help)", f);
        } else {
            return mot_fail(MOT_ERR_ARG, "perplexity: unexpected argument '%s' (the model is -m FILE, the text -f FILE)",
                            f);
        }
    }
    if (!o->model || !o->text_path) {
        return mot_fail(MOT_ERR_ARG, "perplexity: usage: mot perplexity -m MODEL -f TEXT_FILE [-c 512] [-b 512] "
                                     "[--chunks N] [--dump FILE] [-t THREADS] [--backend auto|cpu|cuda]");
    }
    if (o->dump_path) {
        const mot_status st = mot_out_check(o->dump_path, o->exec.force); /* refused now, not after the run */
        if (st != MOT_OK) {
            return mot_fail_prefix(st, "--dump");
        }
    }
    return MOT_OK;
}

/* "[c]PPL," as each chunk ends (llama.cpp's line), and after the first the time a chunk takes. */
static int on_chunk(void *user, const mot_perplexity_result *r) {
    (void)user;
    if (r->done == 1) {
        const double left = r->seconds * (r->n_chunks - 1) / 60.0;
        fprintf(stderr, "perplexity: %.2f seconds per pass - ETA %.2f minutes\n", r->seconds, left);
    }
    printf("[%d]%.4f,", r->done, mot_perplexity_ppl(r));
    fflush(stdout);
    return 0;
}

/* --dump: tokens i32 [chunks, n_ctx] as evaluated (BOS put first), nll f64 [chunks, scored]
 * for positions first .. n_ctx - 2 (each predicting the token after it). */
static mot_status write_dump(const ppl_options *o, const mot_perplexity_result *r) {
    const int scored = r->n_ctx - r->first - 1;
    int32_t first = r->first;
    mot_st_entry e[3] = {
        {"tokens", MOT_DTYPE_I32, 2, {r->done, r->n_ctx}, r->tokens},
        {"nll", MOT_DTYPE_F64, 2, {r->done, scored}, r->token_nll},
        {"first", MOT_DTYPE_I32, 1, {1}, &first},
    };
    return mot_st_write(o->dump_path, e, 3, o->exec.force);
}

static mot_status perplexity(const ppl_options *o) {
    mot_backend_options bo;
    mot_schedule sched;
    mot_profile_session prof = {0};
    mot_tokenizer *tok = NULL;
    mot_expert *ex = NULL;
    char *text = NULL;
    int *ids = NULL, n_ids = 0;
    mot_perplexity_result r = {0};
    mot_status st = mot_schedule_resolve(&o->exec.sched, NULL, &sched, &bo);
    if (st == MOT_OK) st = mot_profile_begin(&prof, o->exec.profile_path, o->exec.force);
    bo.trace = mot_profile_trace(&prof);
    if (st == MOT_OK) st = mot_read_text_file_max(o->text_path, MOT_MAX_CORPUS_BYTES, "text file", &text);
    mot_config cfg;
    if (st == MOT_OK) st = mot_config_load(o->model, &cfg);
    if (st == MOT_OK) st = mot_tokenizer_load(o->model, &tok);
    if (st == MOT_OK) st = mot_expert_load(o->model, &ex);
    if (st == MOT_OK) {
        fprintf(stderr, "perplexity: tokenizing the input ..\n");
        const double t0 = mot_now();
        st = mot_tokenizer_encode(tok, text, 1, &ids, &n_ids);
        if (st == MOT_OK) fprintf(stderr, "perplexity: tokenization took %.1f ms\n", (mot_now() - t0) * 1e3);
    }
    if (st == MOT_OK && o->n_ctx > ex->cfg.max_pos) {
        fprintf(stderr, "perplexity: warning: -c %d is past the model's max_position_embeddings (%d)\n", o->n_ctx,
                ex->cfg.max_pos);
    }
    mot_perplexity_params p = {.n_ctx = o->n_ctx, .n_batch = o->n_batch, .max_chunks = o->chunks,
                               .keep = o->dump_path != NULL, .backend = bo, .on_chunk = on_chunk};
    if (st == MOT_OK) {
        p.n_prefix = mot_tokenizer_prefix(tok, &p.prefix);
        const int chunks = n_ids / o->n_ctx, run = o->chunks > 0 && o->chunks < chunks ? o->chunks : chunks;
        if (run > 0) /* else mot_perplexity says the text is too short */
            fprintf(stderr,
                "perplexity: calculating perplexity over %d chunks, n_ctx=%d, batch_size=%d (%d tokens, the second "
                "half of each chunk scored)\n",
                run, o->n_ctx, o->n_batch < o->n_ctx ? o->n_batch : o->n_ctx, n_ids);
        mot_profile_lane(&prof, 0, 0, ex->name);
        st = mot_perplexity(ex, ids, n_ids, &p, &r);
        if (r.done > 0) { /* ends the chunks' line, also after a failure (its error follows) */
            printf("\n");
            fflush(stdout);
        }
    }
    if (st == MOT_OK) {
        printf("Final estimate: PPL = %.4f +/- %.5f\n", mot_perplexity_ppl(&r), mot_perplexity_ppl_error(&r));
        fflush(stdout); /* the figures line below after it, also when both go to one pipe */
        fprintf(stderr, "mot: %d chunks of %d tokens, %lld scored, mean NLL %.6f nats | %.2f tok/s | threads %d\n",
                r.done, r.n_ctx, r.count, r.nll / (double)r.count,
                r.seconds > 0 ? (double)r.done * r.n_ctx / r.seconds : 0.0, omp_get_max_threads());
    }
    if (st == MOT_OK && o->dump_path) st = write_dump(o, &r);
    st = mot_profile_end(&prof, st);
    mot_perplexity_result_free(&r);
    free(ids), free(text);
    mot_tokenizer_free(tok);
    mot_expert_free(ex);
    return st;
}

int mot_cmd_perplexity(int argc, char **argv) {
    ppl_options o;
    mot_status st = parse(argc, argv, &o);
    if (st == MOT_OK) st = perplexity(&o);
    return st == MOT_OK ? 0 : mot_cli_fail(st);
}
