/* Where the interaction layers go (SPEC 1.2):
 *   end(q) = floor(a*L + (q+1)*(b-a)*L/Q) - 1,  q = 0..Q-1
 * a and b are multiples of 1/4, so with a = an/4, b = bn/4 this is exactly
 *   end(q) = floor((an*L*Q + (q+1)*(bn-an)*L) / (4*Q)) - 1
 * in integers (every term is non-negative, so integer division floors). */
#include "common/error.h"
#include "graph/pipeline.h"

/* The window [an/4, bn/4) of each named placement. */
static void window_quarters(mot_placement pl, int *an, int *bn) {
    static const int quarters[][2] = {
        [MOT_PLACEMENT_UNIFORM] = {0, 4},
        [MOT_PLACEMENT_SHALLOW] = {0, 2},
        [MOT_PLACEMENT_INTERMEDIATE] = {1, 3},
        [MOT_PLACEMENT_DEEP] = {2, 4},
    };
    *an = quarters[pl][0];
    *bn = quarters[pl][1];
}

/* Fills ends[0..Q) for the window [an/4, bn/4) of L layers; returns the first interaction that
 * lands before layer 0 or on the layer of the one before it, or -1 when all are distinct. */
static int window_ends(int an, int bn, int n_layers, int Q, int *ends) {
    long long L = n_layers;
    for (int q = 0; q < Q; q++) {
        long long num = an * L * Q + (long long)(q + 1) * (bn - an) * L;
        ends[q] = (int)(num / (4LL * Q)) - 1;
        if ((q == 0 && ends[q] < 0) || (q > 0 && ends[q] <= ends[q - 1])) {
            return q;
        }
    }
    return -1;
}

static mot_status fail_at(const mot_pipeline *p, mot_src_pos pos, const char *what) {
    return mot_fail_at(p->file, pos.line, pos.col, "%s", what);
}

static mot_status check_explicit(const mot_pipeline *p, int expert, int n_layers, int *ends) {
    const mot_pipeline_expert *e = &p->experts[expert];
    int Q = p->interaction.stacks;
    char what[1024];
    for (int q = 0; q < Q; q++) {
        mot_src_pos at = e->layer_item_pos ? e->layer_item_pos[q] : e->layers_pos;
        int v = e->layers[q];
        if (v < 0 || v >= n_layers) {
            snprintf(what, sizeof what,
                     "experts[%d].layers[%d]: layer %d is out of range for '%s', which has %d "
                     "layers (expected 0..%d)",
                     expert, q, v, e->name, n_layers, n_layers - 1);
            return fail_at(p, at, what);
        }
        if (q > 0 && v <= e->layers[q - 1]) {
            snprintf(what, sizeof what,
                     "experts[%d].layers[%d]: layer %d does not come after layer %d (expected "
                     "strictly increasing layer indices: two interaction points cannot coincide)",
                     expert, q, v, e->layers[q - 1]);
            return fail_at(p, at, what);
        }
        ends[q] = v;
    }
    return MOT_OK;
}

mot_status mot_pipeline_placement(const mot_pipeline *p, int expert, int n_layers, int *ends) {
    if (expert < 0 || expert >= p->n_experts) {
        return mot_fail(MOT_ERR_ARG, "%s: placement of expert %d: no such expert (the pipeline has %d)",
                        p->file, expert, p->n_experts);
    }
    const mot_pipeline_expert *e = &p->experts[expert];
    char what[1024];
    if (e->depth > 0 && e->depth != n_layers) {
        snprintf(what, sizeof what,
                 "experts[%d].depth %d does not match the model '%s', which has %d layers", expert,
                 e->depth, e->path, n_layers);
        return fail_at(p, e->depth_pos, what);
    }
    if (n_layers < 1) {
        snprintf(what, sizeof what, "experts[%d] (%s): the model has no layers", expert, e->name);
        return fail_at(p, e->pos, what);
    }
    int Q = p->interaction.stacks;
    if (p->interaction.placement == MOT_PLACEMENT_EXPLICIT) {
        if (!e->layers) {
            snprintf(what, sizeof what, "experts[%d] (%s): explicit placement needs a 'layers' list",
                     expert, e->name);
            return fail_at(p, e->pos, what);
        }
        return check_explicit(p, expert, n_layers, ends);
    }
    int an, bn;
    window_quarters(p->interaction.placement, &an, &bn);
    int bad = window_ends(an, bn, n_layers, Q, ends);
    if (bad >= 0) {
        /* Q points in a window of fewer layers: two of them land on the same layer. */
        int bad_layer = ends[bad];
        int fits = 0; /* the most stacks this window takes at this depth */
        for (int k = Q - 1; k >= 1 && !fits; k--) {
            fits = window_ends(an, bn, n_layers, k, ends) < 0 ? k : 0;
        }
        char hint[96];
        if (fits) {
            snprintf(hint, sizeof hint, "expected interaction.stacks <= %d", fits);
        } else {
            snprintf(hint, sizeof hint, "no number of stacks fits");
        }
        snprintf(what, sizeof what,
                 "experts[%d] (%s): %d stacks do not fit its %d layers with the %s placement: "
                 "interaction %d would follow layer %d%s (%s, or another placement)",
                 expert, e->name, Q, n_layers, mot_placement_name(p->interaction.placement), bad,
                 bad_layer, bad == 0 ? ", before the first layer" : ", as the one before it does",
                 hint);
        return fail_at(p, e->pos, what);
    }
    return MOT_OK;
}
