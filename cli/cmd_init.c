/* mot init PIPELINE.yaml [--seed N] [--dtype f32|f16|bf16] [--biases] [--zero-reverse] [-o FILE] [--force]: writes random
 * MoT weights (router + interaction layers) with the SPEC 2.2 names and shapes for the
 * pipeline's pool, to its `weights:` path unless -o is given. Linear weights are drawn from
 * N(0, 1/in) (reverse projectors scaled by 0.05 so they nudge, not drown, the residual
 * stream; with --zero-reverse they start at 0, so the MoT equals its primary alone until trained:
 * the start `mot train` wants, SPEC 5); biases N(0, 0.02^2); layernorm weight 1 + N(0, 0.1^2), bias N(0, 0.1^2). The file
 * is written through common/safe_write.h (a symlink or device only with --force). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/half.h"
#include "common/mapped_file.h"
#include "common/safe_write.h"
#include "runtime/mot_model.h"
#include "common/rng.h"

typedef struct {
    mot_dtype dtype;
    int biases;
    int zero_reverse;
    uint64_t seed;
    int n, cap;
    mot_st_entry *entries;
    mot_status status;
} init_state;

static double normal(uint64_t *x) {
    double u1 = ((mot_splitmix64(x) >> 11) + 1.0) * 0x1.0p-53, u2 = (mot_splitmix64(x) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void add_tensor(const char *name, int ndim, const int64_t *shape, int optional, void *user) {
    init_state *s = user;
    if (s->status != MOT_OK || (optional && !s->biases)) {
        return;
    }
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        mot_st_entry *grown = realloc(s->entries, (size_t)cap * sizeof *grown);
        if (!grown) {
            s->status = mot_fail(MOT_ERR_NOMEM, "init: out of memory");
            return;
        }
        s->entries = grown;
        s->cap = cap;
    }
    size_t count = (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
    void *data = malloc(count * mot_dtype_size(s->dtype));
    if (!data) {
        s->status = mot_fail(MOT_ERR_NOMEM, "init: out of memory");
        free(data);
        return;
    }
    /* Each tensor its own stream: values do not depend on which other tensors exist. */
    uint64_t x = s->seed ^ name_hash(name);
    int is_norm = strstr(name, ".norm.") != NULL, is_bias = strstr(name, ".bias") != NULL;
    double std = ndim == 2 ? 1.0 / sqrt((double)shape[1]) : (is_norm ? 0.1 : 0.02);
    if (strstr(name, ".reverse.") && ndim == 2) {
        std *= 0.05;
    }
    if (s->zero_reverse && strstr(name, ".reverse.")) {
        std = 0; /* weight and bias: the reverse projection adds nothing yet */
    }
    double mean = is_norm && !is_bias ? 1.0 : 0.0;
    for (size_t i = 0; i < count; i++) {
        float v = (float)(mean + std * normal(&x));
        if (s->dtype == MOT_DTYPE_F32) ((float *)data)[i] = v;
        else if (s->dtype == MOT_DTYPE_BF16) ((uint16_t *)data)[i] = mot_f32_to_bf16(v);
        else ((uint16_t *)data)[i] = mot_f32_to_f16(v);
    }
    mot_st_entry *e = &s->entries[s->n++];
    *e = (mot_st_entry){.name = strdup(name), .dtype = s->dtype, .ndim = ndim, .data = data};
    memcpy(e->shape, shape, (size_t)ndim * sizeof *shape);
}

int mot_cmd_init(int argc, char **argv) {
    const char *pipeline = NULL, *out = NULL, *dtype = "f32";
    unsigned long long seed = 0;
    int force = 0;
    init_state s = {.status = MOT_OK};
    mot_args a = {argc, argv, 0};
    mot_status st = MOT_OK;
    for (a.i = 0; a.i < argc && st == MOT_OK; a.i++) {
        const char *f = argv[a.i];
        if (!strcmp(f, "--seed")) st = mot_arg_u64(&a, &seed);
        else if (!strcmp(f, "-o") || !strcmp(f, "--output")) st = mot_arg_str(&a, &out);
        else if (!strcmp(f, "--dtype")) st = mot_arg_str(&a, &dtype);
        else if (!strcmp(f, "--biases")) s.biases = 1;
        else if (!strcmp(f, "--zero-reverse")) s.zero_reverse = 1;
        else if (!strcmp(f, "--force")) force = 1;
        else if (f[0] == '-') st = mot_fail(MOT_ERR_ARG, "init: unknown option '%s'", f);
        else if (pipeline) st = mot_fail(MOT_ERR_ARG, "init: unexpected argument '%s'", f);
        else pipeline = f;
    }
    if (st == MOT_OK && !pipeline) st = mot_fail(MOT_ERR_ARG, "init: usage: mot init PIPELINE.yaml [--seed N] [--dtype f32|f16|bf16] [--biases] [--zero-reverse] [-o FILE] [--force]");
    if (st == MOT_OK) {
        if (!strcmp(dtype, "f32")) s.dtype = MOT_DTYPE_F32;
        else if (!strcmp(dtype, "f16")) s.dtype = MOT_DTYPE_F16;
        else if (!strcmp(dtype, "bf16")) s.dtype = MOT_DTYPE_BF16;
        else st = mot_fail(MOT_ERR_ARG, "--dtype: expected f32, f16 or bf16, got '%s'", dtype);
    }
    if (st != MOT_OK) return mot_cli_fail(st);
    s.seed = seed;
    mot_model *m = NULL;
    /* init needs the experts' shapes, not their weights: map the files (instant) rather than
     * copy them (a pool of 7B experts would read tens of GB for nothing) */
    mot_set_load_mode(MOT_LOAD_MAP);
    st = mot_model_load(pipeline, 0, &m);
    if (st == MOT_OK && !out && !m->pipe->weights) {
        st = mot_fail(MOT_ERR_ARG, "%s: error: the pipeline names no weights file; give -o FILE", pipeline);
    }
    const char *path = out ? out : (m ? m->pipe->weights : NULL);
    if (st == MOT_OK) st = mot_out_check(path, force); /* before drawing the weights */
    if (st == MOT_OK) {
        mot_model_visit_tensors(m, add_tensor, &s);
        st = s.status;
    }
    if (st == MOT_OK) st = mot_st_write(path, s.entries, s.n, force);
    if (st == MOT_OK) printf("mot: wrote %d tensors to %s\n", s.n, path);
    for (int i = 0; i < s.n; i++) {
        free((void *)s.entries[i].name);
        free((void *)s.entries[i].data);
    }
    free(s.entries);
    mot_model_free(m);
    return st == MOT_OK ? 0 : mot_cli_fail(st);
}
