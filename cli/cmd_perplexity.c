/* mot perplexity -m MODEL -f TEXT [-c 512] [-b 512] [--chunks N] [--dump FILE]: the model's
 * perplexity over a text as llama.cpp's llama-perplexity computes and prints it
 * (runtime/perplexity.h): "[1]8.1234,[2]..." a chunk at a time on stdout, then
 * "Final estimate: PPL = X +/- E"; what it does and how fast on stderr.
 * --kl-divergence-base FILE also writes the scored rows' log-probabilities (llama.cpp's file);
 * --kl-divergence --kl-divergence-base FILE then compares another model (the same tokenizer)
 * with them over the file's own tokens (runtime/kl_divergence.h, cli/kld_report.h). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/kld_report.h"
#include "cli/profile_session.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/mapped_file.h"
#include "common/safe_write.h"
#include "model/safetensors.h"
#include "runtime/kl_divergence.h"
#include "runtime/perplexity.h"
#include "tokenizer/tokenizer.h"

/* A corpus up to 64 MiB (wikitext-103's test split is 1.3 MiB; its train split 540 MiB is
 * for training, not for this). */
#define MOT_MAX_CORPUS_BYTES ((size_t)64 << 20)

typedef struct {
    const char *model, *text_path, *dump_path;
    const char *kld_base; /* --kl-divergence-base FILE */
    int kld;              /* --kl-divergence: compare with kld_base (else write it) */
    int n_ctx, n_batch, chunks, n_ctx_given;
    mot_exec_flags exec;
} ppl_options;

/* What the callbacks of a run share. */
typedef struct {
    const ppl_options *o;
    int vocab, first, scored, nv;
    mot_out_file out;      /* writing the base file */
    uint16_t *rows;        /* [scored, nv]: the chunk's base rows, being written or read */
    mot_kld_base base;     /* comparing: the base file */
    mot_kld_row *cmp;      /* [scored] */
    mot_kld_stats stats;
} ppl_session;

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
            o->n_ctx_given = 1;
        } else if (!strcmp(f, "--kl-divergence-base")) {
            MOT_TRY(mot_arg_str(&a, &o->kld_base));
        } else if (!strcmp(f, "--kl-divergence")) {
            o->kld = 1;
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
    if (o->kld && !o->kld_base) {
        return mot_fail(MOT_ERR_ARG, "perplexity: --kl-divergence compares with a base file: give it with "
                                     "--kl-divergence-base FILE");
    }
    if (o->kld && o->text_path) {
        return mot_fail(MOT_ERR_ARG, "perplexity: --kl-divergence reads its tokens from the base file, not -f");
    }
    if (!o->model || (!o->text_path && !o->kld)) {
        return mot_fail(MOT_ERR_ARG, "perplexity: usage: mot perplexity -m MODEL -f TEXT_FILE [-c 512] [-b 512] "
                                     "[--chunks N] [--dump FILE] [--kl-divergence-base FILE [--kl-divergence]] "
                                     "[-t THREADS] [--backend auto|cpu|cuda]");
    }
    if (o->kld_base && !o->kld) {
        const mot_status st = mot_out_check(o->kld_base, o->exec.force);
        if (st != MOT_OK) {
            return mot_fail_prefix(st, "--kl-divergence-base");
        }
    }
    if (o->dump_path) {
        const mot_status st = mot_out_check(o->dump_path, o->exec.force); /* refused now, not after the run */
        if (st != MOT_OK) {
            return mot_fail_prefix(st, "--dump");
        }
    }
    return MOT_OK;
}

static mot_status before_chunk(void *user, int c) {
    ppl_session *s = user;
    return s->o->kld ? mot_kld_base_read_chunk(&s->base, c, s->rows) : MOT_OK;
}

/* Each scored row against its base row, or into the base file's row (threads: one row each). */
static void on_row(void *user, int c, int pos, const float *logits, const mot_row_softmax *sm, int target) {
    (void)c;
    ppl_session *s = user;
    const int i = pos - s->first;
    if (s->o->kld) {
        mot_kld_compare_row(logits, s->vocab, sm, s->rows + (size_t)i * s->nv, target, &s->cmp[i]);
    } else {
        mot_kld_compress_row(logits, s->vocab, sm, s->rows + (size_t)i * s->nv);
    }
}

/* After each chunk: after the first, the time a chunk takes; then llama.cpp's line ("[c]PPL,"
 * or, comparing, the chunk's row of the table); writing a base file, the chunk's rows. */
static mot_status on_chunk(void *user, const mot_perplexity_result *r) {
    ppl_session *s = user;
    if (r->done == 1) {
        const double left = r->seconds * (r->n_chunks - 1) / 60.0;
        fprintf(stderr, "perplexity: %.2f seconds per pass - ETA %.2f minutes\n", r->seconds, left);
        if (s->o->kld) mot_kld_print_header(stdout);
    }
    if (s->o->kld) {
        MOT_TRY(mot_kld_stats_add(&s->stats, s->cmp, s->scored));
        mot_kld_print_chunk(stdout, r->done, &s->stats);
    } else {
        printf("[%d]%.4f,", r->done, mot_perplexity_ppl(r));
        if (s->o->kld_base) MOT_TRY(mot_kld_base_write_chunk(s->out.f, s->o->kld_base, s->rows, s->scored, s->vocab));
    }
    fflush(stdout);
    return MOT_OK;
}

/* The chunk size (-c, or the base file's when comparing) and the buffers the callbacks use. */
static mot_status session_open(ppl_session *s, const ppl_options *o, const mot_expert *ex, int *n_ctx) {
    s->o = o;
    s->vocab = ex->cfg.vocab;
    s->nv = mot_kld_row_values(s->vocab);
    *n_ctx = o->n_ctx;
    if (o->kld) {
        MOT_TRY(mot_kld_base_open(&s->base, o->kld_base, s->vocab));
        if (o->n_ctx_given && o->n_ctx != s->base.n_ctx) {
            return mot_fail(MOT_ERR_ARG, "perplexity: -c %d, but %s was computed with chunks of %d (leave -c out)",
                            o->n_ctx, o->kld_base, s->base.n_ctx);
        }
        *n_ctx = s->base.n_ctx;
    }
    s->first = *n_ctx / 2;
    s->scored = *n_ctx - 1 - s->first;
    if (!o->kld_base) {
        return MOT_OK;
    }
    s->rows = malloc((size_t)s->scored * s->nv * sizeof *s->rows);
    s->cmp = o->kld ? malloc((size_t)s->scored * sizeof *s->cmp) : NULL;
    if (!s->rows || (o->kld && !s->cmp)) {
        return mot_fail(MOT_ERR_NOMEM, "perplexity: out of memory for %d rows of %d log-probabilities", s->scored,
                        s->vocab);
    }
    return MOT_OK;
}

/* Writing a base file: its header and the tokens of the chunks that will run. */
static mot_status base_file_start(ppl_session *s, int n_ctx, int chunks, const int *ids) {
    MOT_TRY(mot_out_open(&s->out, s->o->kld_base, s->o->exec.force));
    return mot_kld_base_write_header(s->out.f, s->o->kld_base, n_ctx, s->vocab, chunks, ids);
}

static void session_close(ppl_session *s) {
    mot_out_abort(&s->out);
    mot_kld_base_close(&s->base);
    mot_kld_stats_free(&s->stats);
    free(s->rows), free(s->cmp);
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

/* The text's tokens (-f): tokenized whole, BOS as the tokenizer adds it. */
static mot_status tokenize_text(const ppl_options *o, const mot_tokenizer *tok, int **ids, int *n_ids) {
    char *text = NULL;
    MOT_TRY(mot_read_text_file_max(o->text_path, MOT_MAX_CORPUS_BYTES, "text file", &text));
    fprintf(stderr, "perplexity: tokenizing the input ..\n");
    const double t0 = mot_now();
    mot_status st = mot_tokenizer_encode(tok, text, 1, ids, n_ids);
    if (st == MOT_OK) fprintf(stderr, "perplexity: tokenization took %.1f ms\n", (mot_now() - t0) * 1e3);
    free(text);
    return st;
}

/* The closing lines: the estimate (or the comparison's statistics), then the figures. */
static void report(ppl_session *s, mot_perplexity_result *r) {
    if (s->o->kld) {
        printf("\n");
        mot_kld_print_summary(stdout, &s->stats);
    } else {
        printf("Final estimate: PPL = %.4f +/- %.5f\n", mot_perplexity_ppl(r), mot_perplexity_ppl_error(r));
    }
    fflush(stdout); /* the figures line below after it, also when both go to one pipe */
    fprintf(stderr, "mot: %d chunks of %d tokens, %lld scored, mean NLL %.6f nats | %.2f tok/s | threads %d\n", r->done,
            r->n_ctx, r->count, r->nll / (double)r->count, r->seconds > 0 ? (double)r->done * r->n_ctx / r->seconds : 0.0,
            omp_get_max_threads());
}

static mot_status perplexity(const ppl_options *o) {
    mot_backend_options bo;
    mot_schedule sched;
    mot_profile_session prof = {0};
    mot_tokenizer *tok = NULL;
    mot_expert *ex = NULL;
    int *text_ids = NULL, n_ids = 0, n_ctx = o->n_ctx;
    const int *ids = NULL;
    mot_perplexity_result r = {0};
    ppl_session s = {0};
    mot_status st = mot_schedule_resolve(&o->exec.sched, NULL, &sched, &bo);
    if (st == MOT_OK) st = mot_profile_begin(&prof, o->exec.profile_path, o->exec.force);
    bo.trace = mot_profile_trace(&prof);
    if (st == MOT_OK) st = mot_expert_load_with_tokenizer(o->model, &tok, &ex);
    if (st == MOT_OK && !o->kld) st = tokenize_text(o, tok, &text_ids, &n_ids);
    ids = text_ids;
    if (st == MOT_OK) st = session_open(&s, o, ex, &n_ctx);
    if (st == MOT_OK && o->kld) ids = s.base.tokens, n_ids = s.base.n_ctx * s.base.n_chunk;
    int chunks = n_ids / n_ctx; /* whole ones; --chunks cuts them short */
    chunks = o->chunks > 0 && o->chunks < chunks ? o->chunks : chunks;
    if (st == MOT_OK && o->kld_base && !o->kld && chunks > 0) st = base_file_start(&s, n_ctx, chunks, ids);
    if (st == MOT_OK && n_ctx > ex->cfg.max_pos) {
        fprintf(stderr, "perplexity: warning: chunks of %d tokens are past the model's max_position_embeddings (%d)\n",
                n_ctx, ex->cfg.max_pos);
    }
    mot_perplexity_params p = {.n_ctx = n_ctx, .n_batch = o->n_batch, .max_chunks = o->chunks,
                               .keep = o->dump_path != NULL, .backend = bo, .user = &s,
                               .before_chunk = before_chunk, .on_row = o->kld_base ? on_row : NULL,
                               .on_chunk = on_chunk};
    if (st == MOT_OK) {
        p.n_prefix = mot_tokenizer_prefix(tok, &p.prefix);
        if (chunks > 0) { /* else mot_perplexity says the text is too short */
            fprintf(stderr, "perplexity: %s over %d chunks, n_ctx=%d, batch_size=%d (%d tokens, the second half of "
                            "each chunk scored)\n",
                    o->kld ? "computing KL divergence from the base file" : "calculating perplexity", chunks, n_ctx,
                    o->n_batch < n_ctx ? o->n_batch : n_ctx, n_ids);
        }
        mot_profile_lane(&prof, 0, 0, ex->name);
        st = mot_perplexity(ex, ids, n_ids, &p, &r);
        if (r.done > 0 && !o->kld) { /* ends the chunks' line, also after a failure (its error follows) */
            printf("\n");
            fflush(stdout);
        }
    }
    if (st == MOT_OK) report(&s, &r);
    if (st == MOT_OK && o->kld_base && !o->kld) st = mot_out_commit(&s.out);
    if (st == MOT_OK && o->dump_path) st = write_dump(o, &r);
    st = mot_profile_end(&prof, st);
    session_close(&s);
    mot_perplexity_result_free(&r);
    free(text_ids);
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
