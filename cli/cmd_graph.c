/* mot graph PIPELINE.yaml [--format yaml|dot]: the expanded dataflow graph on stdout. Each
 * expert's depth comes from its config.json alone; no weights are read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/text_stream.h"
#include "common/error.h"
#include "graph/pipeline.h"
#include "model/config.h"

typedef struct {
    const char *pipeline, *format;
} graph_options;

static mot_status parse_graph(int argc, char **argv, graph_options *o) {
    *o = (graph_options){.format = "yaml"};
    mot_args a = {argc, argv, 0};
    for (a.i = 0; a.i < argc; a.i++) {
        const char *f = argv[a.i];
        if (!strcmp(f, "--format")) {
            MOT_TRY(mot_arg_str(&a, &o->format));
            if (strcmp(o->format, "yaml") && strcmp(o->format, "dot")) {
                return mot_fail(MOT_ERR_ARG, "--format: expected yaml or dot, got '%s'", o->format);
            }
        } else if (f[0] == '-' && f[1]) {
            return mot_fail(MOT_ERR_ARG, "graph: unknown option '%s' (see mot --help)", f);
        } else if (o->pipeline) {
            return mot_fail(MOT_ERR_ARG, "graph: one pipeline file expected, got '%s' and '%s'",
                            o->pipeline, f);
        } else {
            o->pipeline = f;
        }
    }
    if (!o->pipeline) {
        return mot_fail(MOT_ERR_ARG, "graph: a pipeline file is required (mot graph PIPELINE.yaml)");
    }
    return MOT_OK;
}

/* depths[m]: num_hidden_layers of expert m's config.json. */
static mot_status read_depths(const mot_pipeline *p, int *depths) {
    for (int m = 0; m < p->n_experts; m++) {
        mot_config cfg;
        if (mot_config_load(p->experts[m].path, &cfg) != MOT_OK) {
            const mot_src_pos at = p->experts[m].pos;
            return mot_fail_prefix(MOT_ERR_FORMAT, "%s:%d:%d: error: experts[%d] (%s)", p->file, at.line,
                                   at.col, m, p->experts[m].name);
        }
        depths[m] = cfg.n_layers;
    }
    return MOT_OK;
}

static mot_status run_graph(const graph_options *o) {
    mot_pipeline *p = NULL;
    MOT_TRY(mot_pipeline_load(o->pipeline, &p));
    int *depths = calloc((size_t)p->n_experts, sizeof *depths);
    mot_status st = depths ? read_depths(p, depths) : mot_fail(MOT_ERR_NOMEM, "out of memory");
    if (st == MOT_OK) {
        st = !strcmp(o->format, "dot") ? mot_pipeline_write_dot(p, depths, stdout)
                                       : mot_pipeline_write_yaml(p, depths, stdout);
    }
    if (st == MOT_OK && fflush(stdout) != 0) {
        st = mot_stdout_fail(errno);
    }
    free(depths);
    mot_pipeline_free(p);
    return st;
}

int mot_cmd_graph(int argc, char **argv) {
    graph_options o;
    mot_status st = parse_graph(argc, argv, &o);
    if (st == MOT_OK) {
        st = run_graph(&o);
    }
    return st == MOT_OK ? 0 : mot_cli_fail(st);
}
