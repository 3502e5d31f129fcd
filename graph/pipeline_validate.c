/* Checks that involve more than one key of a pipeline file; each error points at the value
 * that has to change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "graph/pipeline_internal.h"

static mot_status fail_at(const mot_pipeline *p, mot_src_pos pos, const char *what) {
    return mot_fail_at(p->file, pos.line, pos.col, "%s", what);
}

static mot_status check_names(const mot_pipeline *p) {
    char what[1024];
    for (int i = 0; i < p->n_experts; i++) {
        for (int j = 0; j < i; j++) {
            if (!strcmp(p->experts[i].name, p->experts[j].name)) {
                snprintf(what, sizeof what, "experts[%d].name: duplicate expert name '%s' (first at %d:%d)",
                         i, p->experts[i].name, p->experts[j].name_pos.line,
                         p->experts[j].name_pos.col);
                return fail_at(p, p->experts[i].name_pos, what);
            }
        }
    }
    return MOT_OK;
}

/* Without the model's depth only the order of an explicit list can be checked here; the range
 * is checked by mot_pipeline_placement once the depth is known. */
static mot_status check_explicit_order(const mot_pipeline *p) {
    char what[1024];
    for (int i = 0; i < p->n_experts; i++) {
        const mot_pipeline_expert *e = &p->experts[i];
        for (int q = 1; e->layers && q < p->interaction.stacks; q++) {
            if (e->layers[q] <= e->layers[q - 1]) {
                snprintf(what, sizeof what,
                         "experts[%d].layers[%d]: layer %d does not come after layer %d (expected "
                         "strictly increasing layer indices: two interaction points cannot coincide)",
                         i, q, e->layers[q], e->layers[q - 1]);
                return fail_at(p, e->layer_item_pos[q], what);
            }
        }
    }
    return MOT_OK;
}

mot_status mot_pipeline_validate(const mot_pipeline *p) {
    MOT_TRY(check_names(p));
    char what[1024];
    if (p->router.top_k > p->n_experts) {
        snprintf(what, sizeof what, "router.top_k %d exceeds the number of experts (%d)",
                 p->router.top_k, p->n_experts);
        return fail_at(p, p->router.top_k_pos, what);
    }
    if (p->interaction.shared_dim % p->interaction.heads != 0) {
        snprintf(what, sizeof what, "interaction.heads %d does not divide shared_dim %d",
                 p->interaction.heads, p->interaction.shared_dim);
        return fail_at(p, p->interaction.heads_pos, what);
    }
    MOT_TRY(check_explicit_order(p));
    /* A declared depth (the expanded form has one) lets the placement be checked now. */
    int *ends = malloc(sizeof *ends * (size_t)p->interaction.stacks);
    if (!ends) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", p->file);
    }
    mot_status st = MOT_OK;
    for (int i = 0; i < p->n_experts && st == MOT_OK; i++) {
        if (p->experts[i].depth > 0) {
            st = mot_pipeline_placement(p, i, p->experts[i].depth, ends);
        }
    }
    free(ends);
    return st;
}
