/* mot eval PIPELINE.yaml --data EVAL.jsonl [--weights W] [-o REPORT.json] [-t N] [--force]:
 * the completion NLL of MoT, of each expert alone and of the router's top-1 expert alone
 * (train/eval.h), as a table on stdout and, with -o, per example as JSON. */
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/safe_write.h"
#include "train/eval.h"

/* Mean nats per example and bits per byte of one system's column. */
typedef struct {
    double nats, bytes;
} column;

static double mean(column c, int n) { return c.nats / n; }
static double bpb(column c) { return c.nats / (log(2.0) * c.bytes); }

static void print_table(const mot_model *m, const mot_eval_result *r) {
    const int M = r->M;
    column mot = {0}, top1 = {0};
    column *alone = calloc((size_t)M, sizeof *alone);
    int *primary = calloc((size_t)M, sizeof *primary);
    if (!alone || !primary) {
        free(alone), free(primary);
        return;
    }
    for (int i = 0; i < r->n; i++) {
        const mot_eval_example *e = &r->ex[i];
        mot.nats += e->mot, mot.bytes += (double)e->bytes;
        top1.nats += e->top1, top1.bytes += (double)e->bytes;
        for (int x = 0; x < M; x++) alone[x].nats += e->alone[x], alone[x].bytes += (double)e->bytes;
        primary[e->active[0]]++;
    }
    int best = 0;
    for (int x = 1; x < M; x++) best = alone[x].nats < alone[best].nats ? x : best;
    printf("mot eval: %d examples, %.0f completion bytes\n\n", r->n, mot.bytes);
    printf("| system | NLL / example (nats) | bits / byte |\n| --- | ---: | ---: |\n");
    printf("| MoT (top-%d routing + interaction) | %.4f | %.4f |\n", r->k, mean(mot, r->n), bpb(mot));
    printf("| router's top-1 expert alone | %.4f | %.4f |\n", mean(top1, r->n), bpb(top1));
    for (int x = 0; x < M; x++) {
        printf("| %s alone%s | %.4f | %.4f |\n", m->pipe->experts[x].name, x == best ? " (best single)" : "",
               mean(alone[x], r->n), bpb(alone[x]));
    }
    printf("\nprimary chosen by the router:");
    for (int x = 0; x < M; x++) printf(" %s %d%s", m->pipe->experts[x].name, primary[x], x + 1 < M ? "," : "\n");
    free(alone), free(primary);
}

static mot_status write_report(const char *path, int force, const mot_model *m, const mot_eval_result *r) {
    json_t *root = json_object(), *list = json_array();
    for (int i = 0; i < r->n; i++) {
        const mot_eval_example *e = &r->ex[i];
        json_t *x = json_object(), *act = json_array(), *alone = json_object();
        for (int k = 0; k < r->k; k++) json_array_append_new(act, json_string(m->pipe->experts[e->active[k]].name));
        for (int y = 0; y < r->M; y++) json_object_set_new(alone, m->pipe->experts[y].name, json_real(e->alone[y]));
        json_object_set_new(x, "line", json_integer(e->line));
        json_object_set_new(x, "completion_bytes", json_integer((json_int_t)e->bytes));
        json_object_set_new(x, "active", act);
        json_object_set_new(x, "mot_nll", json_real(e->mot));
        json_object_set_new(x, "top1_expert", json_string(m->pipe->experts[e->top1_expert].name));
        json_object_set_new(x, "top1_nll", json_real(e->top1));
        json_object_set_new(x, "alone_nll", alone);
        json_array_append_new(list, x);
    }
    json_object_set_new(root, "examples", list);
    mot_out_file f;
    mot_status st = mot_out_open(&f, path, force);
    if (st == MOT_OK) {
        json_dumpf(root, f.f, JSON_INDENT(1));
        fputc('\n', f.f);
        st = mot_out_commit(&f);
    }
    json_decref(root);
    return st;
}

int mot_cmd_eval(int argc, char **argv) {
    const char *pipeline = NULL, *data = NULL, *weights = NULL, *report = NULL;
    int threads = 0, force = 0, max_tokens = 0;
    mot_backend_kind backend = MOT_BACKEND_CPU;
    mot_args a = {argc, argv, 0};
    mot_status st = MOT_OK;
    for (a.i = 0; a.i < argc && st == MOT_OK; a.i++) {
        const char *f = argv[a.i];
        if (!strcmp(f, "--data")) st = mot_arg_str(&a, &data);
        else if (!strcmp(f, "--weights")) st = mot_arg_str(&a, &weights);
        else if (!strcmp(f, "-o") || !strcmp(f, "--output")) st = mot_arg_str(&a, &report);
        else if (!strcmp(f, "--max-tokens")) st = mot_arg_int(&a, 1, 1 << 30, &max_tokens);
        else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) st = mot_arg_threads(&a, &threads);
        else if (!strcmp(f, "--backend")) st = mot_arg_train_backend(&a, &backend);
        else if (!strcmp(f, "--force")) force = 1;
        else if (f[0] == '-') st = mot_fail(MOT_ERR_ARG, "eval: unknown option '%s'", f);
        else if (pipeline) st = mot_fail(MOT_ERR_ARG, "eval: unexpected argument '%s'", f);
        else pipeline = f;
    }
    if (st == MOT_OK && (!pipeline || !data)) {
        st = mot_fail(MOT_ERR_ARG, "eval: usage: mot eval PIPELINE.yaml --data EVAL.jsonl [--weights W] [-o REPORT.json] [-t N] [--backend cpu|cuda]");
    }
    if (st == MOT_OK && report) st = mot_out_check(report, force);
    if (st != MOT_OK) return mot_cli_fail(st);
    if (threads > 0) omp_set_num_threads(threads);
    mot_model *m = NULL;
    mot_train_layout lay = {0};
    mot_trainer t = {0};
    mot_train_data d = {0};
    mot_eval_result r = {0};
    st = mot_model_load_with(pipeline, weights, 1, &m);
    if (st == MOT_OK) st = mot_train_layout_build(m, &lay);
    if (st == MOT_OK) st = mot_trainer_init(&t, m, &lay);
    if (st == MOT_OK) st = mot_trainer_set_backend(&t, backend, NULL);
    if (st == MOT_OK) st = mot_train_data_load(m, data, max_tokens, &d);
    if (st == MOT_OK) st = mot_eval_run(&t, &d, &r);
    if (st == MOT_OK) print_table(m, &r);
    if (st == MOT_OK && report) st = write_report(report, force, m, &r);
    mot_eval_result_free(&r);
    mot_train_data_free(&d);
    mot_trainer_free(&t);
    mot_train_layout_free(&lay);
    mot_model_free(m);
    return st == MOT_OK ? 0 : mot_cli_fail(st);
}
