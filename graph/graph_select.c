/* Which graph a pipeline runs: the file's `graph:` section (checked against the experts'
 * depths, then copied: the model outlives the pipeline's parse) or the expansion of its
 * settings. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "graph/graph_nodes.h"

/* A deep copy: the model keeps its graph after the pipeline's is freed. */
static mot_status copy_graph(const mot_graph *from, mot_graph *g) {
    *g = (mot_graph){0};
    g->nodes = calloc((size_t)from->n_nodes + 1, sizeof *g->nodes);
    if (!g->nodes) {
        return mot_fail(MOT_ERR_NOMEM, "graph: out of memory");
    }
    int failed = 0;
    for (int i = 0; i < from->n_nodes; i++) {
        const mot_graph_node *a = &from->nodes[i];
        mot_graph_node *n = &g->nodes[i];
        *n = *a;
        g->n_nodes = i + 1;
        n->id = strdup(a->id);
        n->attention_inputs = NULL, n->input_pos = NULL;
        if (a->attention_inputs && (n->attention_inputs = malloc(sizeof(int) * (size_t)a->n_inputs))) {
            memcpy(n->attention_inputs, a->attention_inputs, sizeof(int) * (size_t)a->n_inputs);
        }
        if (a->input_pos && (n->input_pos = malloc(sizeof(mot_src_pos) * ((size_t)a->n_inputs + 1)))) {
            memcpy(n->input_pos, a->input_pos, sizeof(mot_src_pos) * (size_t)a->n_inputs);
        }
        failed |= !n->id || (a->attention_inputs && !n->attention_inputs) || (a->input_pos && !n->input_pos);
        for (int f = 0; f < a->n_fields; f++) {
            mot_graph_field *nf = &n->fields[f];
            nf->items = calloc((size_t)a->fields[f].n_items + 1, sizeof *nf->items);
            nf->n_items = nf->items ? a->fields[f].n_items : 0;
            failed |= !nf->items;
            for (int k = 0; k < nf->n_items; k++) {
                failed |= !(nf->items[k] = strdup(a->fields[f].items[k]));
            }
        }
    }
    if (failed) {
        mot_graph_free(g);
        return mot_fail(MOT_ERR_NOMEM, "graph: out of memory");
    }
    return MOT_OK;
}

mot_status mot_pipeline_graph(const mot_pipeline *p, const int *depths, mot_graph *g) {
    if (!p->graph) {
        return mot_graph_expand(p, depths, g);
    }
    /* placements are still checked: the settings stay valid (and written) with a graph */
    int *ends = malloc(sizeof *ends * ((size_t)p->interaction.stacks + 1));
    mot_status st = ends ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "%s: out of memory", p->file);
    for (int m = 0; m < p->n_experts && st == MOT_OK; m++) {
        st = mot_pipeline_placement(p, m, depths[m], ends);
    }
    free(ends);
    MOT_TRY(st);
    MOT_TRY(mot_graph_validate(p, p->graph, depths));
    return copy_graph(p->graph, g);
}
