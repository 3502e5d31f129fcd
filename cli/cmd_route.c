/* mot route PIPELINE.yaml -p TEXT [--experts a,b] [--drop NAME]: the router's view of a
 * prompt, on stdout (--allow-nonfinite: route even on NaN/inf scores):
 *   scores: math=0.123456 code=-0.500000 chat=0.900000
 *   active: chat,math
 *   primary: chat */
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/run_options.h"
#include "common/error.h"

/* commands.h; mot run PIPELINE prints the same to stderr, "mot: " in front. */
void mot_route_print(FILE *f, const mot_model *m, const mot_route *r, const char *prefix) {
    const mot_pipeline *p = m->pipe;
    if (r->scores) {
        fprintf(f, "%sscores:", prefix);
        for (int e = 0; e < m->n_experts; e++) {
            fprintf(f, " %s=%.6f", p->experts[e].name, r->scores[e]);
        }
        fputc('\n', f);
    } else {
        fprintf(f, "%sscores: (set forced with --experts)\n", prefix);
    }
    fprintf(f, "%sactive:", prefix);
    for (int i = 0; i < r->k; i++) {
        fprintf(f, "%s%s", i ? "," : " ", p->experts[r->active[i]].name);
    }
    fprintf(f, "\n%sprimary: %s\n", prefix, p->experts[r->active[0]].name);
}

int mot_cmd_route(int argc, char **argv) {
    const char *pipeline = NULL, *prompt = NULL, *experts = NULL, *drop[MOT_MAX_DROP];
    int n_drop = 0, allow_nonfinite = 0;
    mot_args a = {argc, argv, 0};
    mot_status st = MOT_OK;
    for (a.i = 0; a.i < argc && st == MOT_OK; a.i++) {
        const char *f = argv[a.i];
        if (!strcmp(f, "-p") || !strcmp(f, "--prompt")) {
            st = mot_arg_str(&a, &prompt);
        } else if (!strcmp(f, "--experts")) {
            st = mot_arg_str(&a, &experts);
        } else if (!strcmp(f, "--drop")) {
            st = n_drop < MOT_MAX_DROP ? mot_arg_str(&a, &drop[n_drop++])
                                       : mot_fail(MOT_ERR_ARG, "--drop: at most %d experts", MOT_MAX_DROP);
        } else if (!strcmp(f, "--allow-nonfinite")) {
            allow_nonfinite = 1;
        } else if (f[0] == '-') {
            st = mot_fail(MOT_ERR_ARG, "route: unknown option '%s' (see mot --help)", f);
        } else if (pipeline) {
            st = mot_fail(MOT_ERR_ARG, "route: unexpected argument '%s'", f);
        } else {
            pipeline = f;
        }
    }
    if (st == MOT_OK && (!pipeline || !prompt)) {
        st = mot_fail(MOT_ERR_ARG, "route: usage: mot route PIPELINE.yaml -p TEXT");
    }
    if (st != MOT_OK) {
        return mot_cli_fail(st);
    }
    mot_model *m = NULL;
    mot_route r = {0};
    st = mot_model_load(pipeline, 1, &m);
    if (st == MOT_OK) m->allow_nonfinite = allow_nonfinite;
    if (st == MOT_OK) st = mot_route_prompt(m, prompt, experts, drop, n_drop, &r);
    if (st == MOT_OK) mot_route_print(stdout, m, &r, "");
    mot_route_free(&r);
    mot_model_free(m);
    return st == MOT_OK ? 0 : mot_cli_fail(st);
}
