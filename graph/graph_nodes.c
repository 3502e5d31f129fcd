/* Expands a pipeline into its dataflow nodes (see graph_nodes.h for the order). */
#include "graph/graph_nodes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
    }
    va_end(ap);
    return s;
}

typedef struct {
    mot_graph *g;
    int failed; /* out of memory somewhere: reported once at the end */
} builder;

static int add_node(builder *b, char *id, const char *kind, int expert, int stack) {
    mot_graph_node *n = &b->g->nodes[b->g->n_nodes];
    *n = (mot_graph_node){.id = id, .kind = kind, .expert = expert, .stack = stack};
    b->failed |= !id;
    return b->g->n_nodes++;
}

/* A field of `n_items` raw strings (taken over). */
static void add_field(builder *b, int node, const char *key, int is_list, int n_items, char **items) {
    mot_graph_node *n = &b->g->nodes[node];
    mot_graph_field *f = &n->fields[n->n_fields++];
    f->key = key;
    f->is_list = is_list;
    f->n_items = n_items;
    f->items = calloc((size_t)n_items, sizeof *f->items);
    if (!f->items) {
        b->failed = 1;
        for (int i = 0; i < n_items; i++) {
            free(items[i]);
        }
        f->n_items = 0;
        return;
    }
    for (int i = 0; i < n_items; i++) {
        f->items[i] = items[i];
        b->failed |= !items[i];
    }
}

static void add_scalar(builder *b, int node, const char *key, char *value) {
    add_field(b, node, key, 0, 1, &value);
}

/* The `inputs` field, from the node indices (the field lists their ids). */
static void add_inputs(builder *b, int node, int n_inputs, const int *inputs) {
    mot_graph_node *n = &b->g->nodes[node];
    char *ids[256];
    for (int i = 0; i < n_inputs; i++) {
        ids[i] = strdup(b->g->nodes[inputs[i]].id ? b->g->nodes[inputs[i]].id : "");
    }
    n->n_inputs = n_inputs;
    if (n_inputs <= 8) {
        memcpy(n->inputs, inputs, sizeof *inputs * (size_t)n_inputs);
    } else {
        n->attention_inputs = malloc(sizeof *inputs * (size_t)n_inputs);
        b->failed |= !n->attention_inputs;
        if (n->attention_inputs) {
            memcpy(n->attention_inputs, inputs, sizeof *inputs * (size_t)n_inputs);
        }
    }
    add_field(b, node, "inputs", 1, n_inputs, ids);
}

const int *mot_graph_node_inputs(const mot_graph_node *n) {
    return n->attention_inputs ? n->attention_inputs : n->inputs;
}

mot_status mot_graph_expand(const mot_pipeline *p, const int *depths, mot_graph *g) {
    int M = p->n_experts, Q = p->interaction.stacks;
    *g = (mot_graph){0};
    int *ends = malloc(sizeof *ends * (size_t)M * (size_t)Q);
    /* Per-expert scratch: the node that last wrote its hidden state, and its forward node. */
    int *last = malloc(sizeof *last * (size_t)M), *fwd = malloc(sizeof *fwd * (size_t)M);
    /* router + per stack (3M + 1) + tails + samplers */
    size_t cap = 1 + (size_t)Q * (3 * (size_t)M + 1) + 2 * (size_t)M;
    g->nodes = calloc(cap, sizeof *g->nodes);
    if (!ends || !last || !fwd || !g->nodes) {
        free(ends), free(last), free(fwd);
        mot_graph_free(g);
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", p->file);
    }
    mot_status st = MOT_OK;
    for (int m = 0; m < M && st == MOT_OK; m++) {
        st = mot_pipeline_placement(p, m, depths[m], ends + (size_t)m * Q);
    }
    if (st != MOT_OK) {
        free(ends), free(last), free(fwd);
        mot_graph_free(g);
        return st;
    }
    builder b = {g, 0};
    int router = add_node(&b, strdup("router"), "router", -1, -1);
    add_scalar(&b, router, "encoder", strdup(p->router.encoder));
    add_scalar(&b, router, "expert", strdup(p->experts[p->router.expert].name));
    for (int m = 0; m < M; m++) {
        last[m] = router; /* an expert's first stack runs only once the router picked it */
    }
    int *att_in = malloc(sizeof *att_in * (size_t)M);
    b.failed |= !att_in;
    for (int q = 0; q < Q && att_in; q++) {
        for (int m = 0; m < M; m++) {
            const char *e = p->experts[m].name;
            int first = q == 0 ? 0 : ends[(size_t)m * Q + q - 1] + 1, lastl = ends[(size_t)m * Q + q];
            int s = add_node(&b, format("%s/stack%d", e, q), "stack", m, q);
            g->nodes[s].first_layer = first;
            g->nodes[s].last_layer = lastl;
            add_scalar(&b, s, "expert", strdup(e));
            char *range[2] = {format("%d", first), format("%d", lastl)};
            add_field(&b, s, "layers", 1, 2, range);
            add_inputs(&b, s, 1, &last[m]);
            last[m] = s;
        }
        for (int m = 0; m < M; m++) {
            const char *e = p->experts[m].name;
            int f = add_node(&b, format("%s/forward%d", e, q), "projector", m, q);
            add_scalar(&b, f, "direction", strdup("forward"));
            add_scalar(&b, f, "expert", strdup(e));
            add_scalar(&b, f, "stack", format("%d", q));
            add_inputs(&b, f, 1, &last[m]);
            fwd[m] = att_in[m] = f;
        }
        int a = add_node(&b, format("attention%d", q), "attention", -1, q);
        add_scalar(&b, a, "stack", format("%d", q));
        add_inputs(&b, a, M, att_in);
        for (int m = 0; m < M; m++) {
            const char *e = p->experts[m].name;
            int r = add_node(&b, format("%s/reverse%d", e, q), "projector", m, q);
            g->nodes[r].reverse = 1;
            add_scalar(&b, r, "direction", strdup("reverse"));
            add_scalar(&b, r, "expert", strdup(e));
            add_scalar(&b, r, "stack", format("%d", q));
            /* The primary's reverse reads the attention output, a non-primary's its own z;
             * the primary is known only after routing, so both edges are in the graph. */
            int in[2] = {a, fwd[m]};
            add_inputs(&b, r, 2, in);
            last[m] = r;
        }
    }
    free(att_in);
    for (int m = 0; m < M; m++) {
        int end = ends[(size_t)m * Q + Q - 1];
        if (end < depths[m] - 1) { /* layers after the last interaction (non-uniform windows) */
            const char *e = p->experts[m].name;
            int s = add_node(&b, format("%s/stack%d", e, Q), "stack", m, Q);
            g->nodes[s].first_layer = end + 1;
            g->nodes[s].last_layer = depths[m] - 1;
            add_scalar(&b, s, "expert", strdup(e));
            char *range[2] = {format("%d", end + 1), format("%d", depths[m] - 1)};
            add_field(&b, s, "layers", 1, 2, range);
            add_inputs(&b, s, 1, &last[m]);
            last[m] = s;
        }
    }
    for (int m = 0; m < M; m++) {
        const char *e = p->experts[m].name;
        int s = add_node(&b, format("%s/sampler", e), "sampler", m, -1);
        add_scalar(&b, s, "expert", strdup(e));
        add_inputs(&b, s, 1, &last[m]);
    }
    free(ends), free(last), free(fwd);
    if (b.failed) {
        mot_graph_free(g);
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory expanding the graph", p->file);
    }
    return MOT_OK;
}

mot_status mot_graph_single(int depth, mot_graph *g) {
    *g = (mot_graph){0};
    g->nodes = calloc(3, sizeof *g->nodes);
    if (!g->nodes) {
        return mot_fail(MOT_ERR_NOMEM, "graph: out of memory");
    }
    builder b = {g, 0};
    int router = add_node(&b, strdup("router"), "router", -1, -1);
    int s = add_node(&b, strdup("stack0"), "stack", 0, 0);
    g->nodes[s].first_layer = 0;
    g->nodes[s].last_layer = depth - 1;
    add_inputs(&b, s, 1, &router);
    int smp = add_node(&b, strdup("sampler"), "sampler", 0, -1);
    add_inputs(&b, smp, 1, &s);
    if (b.failed) {
        mot_graph_free(g);
        return mot_fail(MOT_ERR_NOMEM, "graph: out of memory");
    }
    return MOT_OK;
}

void mot_graph_free(mot_graph *g) {
    for (int i = 0; g->nodes && i < g->n_nodes; i++) {
        mot_graph_node *n = &g->nodes[i];
        free(n->id);
        for (int f = 0; f < n->n_fields; f++) {
            for (int k = 0; k < n->fields[f].n_items; k++) {
                free(n->fields[f].items[k]);
            }
            free(n->fields[f].items);
        }
        free(n->attention_inputs);
        free(n->input_pos);
    }
    free(g->nodes);
    *g = (mot_graph){0};
}

