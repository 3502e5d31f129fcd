/* An expanded file's `graph:` section -> mot_graph: the node syntax (keys by kind, typed
 * values, unique ids, known experts, inputs that name nodes). The topology rules come after,
 * in graph_validate.c. Fields are kept as raw text in the writer's order, so `mot graph`
 * writes a loaded graph back as it was read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "graph/graph_nodes.h"
#include "graph/pipeline_internal.h"
#include "ops/step_state.h"

static const char *const kinds[] = {"router", "stack", "projector", "attention", "sampler", NULL};
static const char *const directions[] = {"forward", "reverse", NULL};
/* Allowed keys per kind (after id, kind), in the order the writer puts them. */
static const char *const keys_of[][6] = {
    {"encoder", "expert", NULL},
    {"expert", "layers", "inputs", NULL},
    {"direction", "expert", "stack", "inputs", NULL},
    {"stack", "query", "inputs", "listeners", NULL}, /* query, listeners: optional */
    {"expert", "inputs", NULL},
};

/* ids -> node index: open addressing, so a 50k-node graph loads in linear time. */
typedef struct {
    int cap;
    int *slot; /* node index + 1, 0 empty */
    const mot_graph *g;
} id_table;

static unsigned hash(const char *s) {
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int id_find(const id_table *t, const char *id) {
    for (unsigned h = hash(id) & (unsigned)(t->cap - 1);; h = (h + 1) & (unsigned)(t->cap - 1)) {
        if (!t->slot[h]) return -1;
        if (!strcmp(t->g->nodes[t->slot[h] - 1].id, id)) return t->slot[h] - 1;
    }
}

static void id_add(id_table *t, int node) {
    unsigned h = hash(t->g->nodes[node].id) & (unsigned)(t->cap - 1);
    while (t->slot[h]) h = (h + 1) & (unsigned)(t->cap - 1);
    t->slot[h] = node + 1;
}

static char *scalar_text(yaml_node_t *v) { return strdup((const char *)v->data.scalar.value); }

/* One raw scalar field; `value` already checked. */
static mot_status add_field(mot_graph_node *n, const char *key, int is_list, int n_items) {
    mot_graph_field *f = &n->fields[n->n_fields++];
    f->key = key;
    f->is_list = is_list;
    f->n_items = 0;
    f->items = calloc((size_t)n_items + 1, sizeof *f->items);
    return f->items ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "graph: out of memory");
}

static mot_status push_item(mot_graph_node *n, char *text) {
    mot_graph_field *f = &n->fields[n->n_fields - 1];
    if (!text) return mot_fail(MOT_ERR_NOMEM, "graph: out of memory");
    f->items[f->n_items++] = text;
    return MOT_OK;
}

static mot_status read_scalar_field(yaml_tree *t, yaml_node_t *m, const char *what, const char *key,
                                    mot_graph_node *n, yaml_node_t **out) {
    yaml_node_t *v;
    char w[260];
    MOT_TRY(yaml_tree_require(t, m, what, key, &v));
    snprintf(w, sizeof w, "%s: %s", what, key);
    char *s = NULL;
    MOT_TRY(yaml_tree_string(t, v, w, &s));
    free(s);
    MOT_TRY(add_field(n, key, 0, 1));
    MOT_TRY(push_item(n, scalar_text(v)));
    *out = v;
    return MOT_OK;
}

static mot_status read_expert(yaml_tree *t, yaml_node_t *m, const char *what, const mot_pipeline *p,
                              mot_graph_node *n) {
    yaml_node_t *v;
    MOT_TRY(read_scalar_field(t, m, what, "expert", n, &v));
    n->expert = mot_pipeline_find_expert(p, (const char *)v->data.scalar.value);
    if (n->expert < 0) {
        return yaml_tree_fail(t, yaml_tree_pos(v), "%s: expert: no expert named '%s' in experts", what,
                              (const char *)v->data.scalar.value);
    }
    return MOT_OK;
}

static mot_status read_stack(yaml_tree *t, yaml_node_t *m, const char *what, const mot_pipeline *p,
                             mot_graph_node *n) {
    yaml_node_t *v;
    char w[260];
    MOT_TRY(yaml_tree_require(t, m, what, "stack", &v));
    snprintf(w, sizeof w, "%s: stack", what);
    /* interaction weights exist for stacks 0 .. Q-1 only */
    MOT_TRY(yaml_tree_int(t, v, w, 0, p->interaction.stacks - 1, &n->stack));
    MOT_TRY(add_field(n, "stack", 0, 1));
    return push_item(n, scalar_text(v));
}

static mot_status read_layers(yaml_tree *t, yaml_node_t *m, const char *what, mot_graph_node *n) {
    yaml_node_t *v;
    char w[260];
    MOT_TRY(yaml_tree_require(t, m, what, "layers", &v));
    snprintf(w, sizeof w, "%s: layers", what);
    n->layers_pos = yaml_tree_pos(v);
    if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top - v->data.sequence.items.start != 2) {
        char found[96];
        return yaml_tree_fail(t, yaml_tree_pos(v), "%s: expected [first, last], found %s", w,
                              yaml_tree_describe(v, found, sizeof found));
    }
    MOT_TRY(add_field(n, "layers", 1, 2));
    int range[2];
    for (int k = 0; k < 2; k++) {
        yaml_node_t *item = yaml_tree_node(t, v->data.sequence.items.start[k]);
        MOT_TRY(yaml_tree_int(t, item, w, 0, 1 << 20, &range[k]));
        MOT_TRY(push_item(n, scalar_text(item)));
    }
    if (range[0] > range[1]) {
        return yaml_tree_fail(t, yaml_tree_pos(v), "%s: [%d, %d] is empty (first after last)", w, range[0], range[1]);
    }
    n->first_layer = range[0], n->last_layer = range[1];
    return MOT_OK;
}

/* The ids only; resolved once every node is known (an input may name a later node: the
 * validator then says whether that is a cycle). `key` is `inputs`, or an attention's
 * `listeners`, whose ids follow the inputs' in the node's input list (n_listeners of them). */
static mot_status read_inputs(yaml_tree *t, yaml_node_t *v, const char *what, const char *key, mot_graph_node *n) {
    char w[260];
    snprintf(w, sizeof w, "%s: %s", what, key);
    MOT_TRY(yaml_tree_expect_sequence(t, v, w));
    const int len = (int)(v->data.sequence.items.top - v->data.sequence.items.start), first = n->n_inputs;
    const int total = first + len;
    MOT_TRY(add_field(n, key, 1, len));
    mot_src_pos *pos = realloc(n->input_pos, sizeof *pos * ((size_t)total + 1));
    if (!pos) return mot_fail(MOT_ERR_NOMEM, "graph: out of memory");
    n->input_pos = pos;
    for (int k = 0; k < len; k++) {
        yaml_node_t *item = yaml_tree_node(t, v->data.sequence.items.start[k]);
        char *s = NULL, iw[300];
        snprintf(iw, sizeof iw, "%s[%d]", w, k);
        MOT_TRY(yaml_tree_string(t, item, iw, &s));
        free(s);
        n->input_pos[first + k] = yaml_tree_pos(item);
        MOT_TRY(push_item(n, scalar_text(item)));
    }
    n->n_inputs = total;
    if (total > 8 || n->attention_inputs) {
        int *in = realloc(n->attention_inputs, sizeof *in * ((size_t)total + 1));
        if (!in) return mot_fail(MOT_ERR_NOMEM, "graph: out of memory");
        n->attention_inputs = in;
    }
    return MOT_OK;
}

static mot_status read_node(yaml_tree *t, yaml_node_t *m, int i, const mot_pipeline *p, mot_graph_node *n) {
    char what[200];
    snprintf(what, sizeof what, "graph[%d]", i);
    MOT_TRY(yaml_tree_expect_mapping(t, m, what));
    n->pos = yaml_tree_pos(m);
    n->expert = n->stack = -1;
    yaml_node_t *v;
    MOT_TRY(yaml_tree_require(t, m, what, "id", &v));
    MOT_TRY(yaml_tree_string(t, v, "id", &n->id));
    if (!*n->id) return yaml_tree_fail(t, yaml_tree_pos(v), "%s: id: expected a name, found an empty string", what);
    snprintf(what, sizeof what, "graph[%d] (%s)", i, n->id);
    MOT_TRY(yaml_tree_require(t, m, what, "kind", &v));
    int kind;
    char w[220];
    snprintf(w, sizeof w, "%s: kind", what);
    MOT_TRY(yaml_tree_choice(t, v, w, kinds, &kind));
    n->kind = kinds[kind];
    const char *allowed[9] = {"id", "kind"};
    for (int k = 0; keys_of[kind][k]; k++) allowed[2 + k] = keys_of[kind][k];
    MOT_TRY(yaml_tree_check_keys(t, m, what, allowed));
    switch (kind) {
    case 0: /* router: the settings' router, written out */
        MOT_TRY(read_scalar_field(t, m, what, "encoder", n, &v));
        if (strcmp((const char *)v->data.scalar.value, p->router.encoder)) {
            return yaml_tree_fail(t, yaml_tree_pos(v), "%s: encoder: expected %s (router.encoder), found %s", what,
                                  p->router.encoder, (const char *)v->data.scalar.value);
        }
        MOT_TRY(read_scalar_field(t, m, what, "expert", n, &v));
        if (strcmp((const char *)v->data.scalar.value, p->experts[p->router.expert].name)) {
            return yaml_tree_fail(t, yaml_tree_pos(v), "%s: expert: expected %s (router.expert), found %s", what,
                                  p->experts[p->router.expert].name, (const char *)v->data.scalar.value);
        }
        return MOT_OK;
    case 1:
        MOT_TRY(read_expert(t, m, what, p, n));
        MOT_TRY(read_layers(t, m, what, n));
        break;
    case 2:
        MOT_TRY(yaml_tree_require(t, m, what, "direction", &v));
        snprintf(w, sizeof w, "%s: direction", what);
        MOT_TRY(yaml_tree_choice(t, v, w, directions, &n->reverse));
        MOT_TRY(add_field(n, "direction", 0, 1));
        MOT_TRY(push_item(n, strdup(directions[n->reverse])));
        MOT_TRY(read_expert(t, m, what, p, n));
        MOT_TRY(read_stack(t, m, what, p, n));
        break;
    case 3:
        MOT_TRY(read_stack(t, m, what, p, n));
        /* whose queries attend: the route rank (docs/pipeline.md); absent = 0, the primary */
        if ((v = yaml_tree_get(t, m, "query", NULL))) {
            snprintf(w, sizeof w, "%s: query", what);
            const int ranks = p->n_experts < MOT_MAX_LANES ? p->n_experts : MOT_MAX_LANES;
            n->query_pos = yaml_tree_pos(v);
            MOT_TRY(yaml_tree_int(t, v, w, 0, 1 << 30, &n->query));
            if (n->query >= ranks) {
                return yaml_tree_fail(t, n->query_pos, "%s: %d is not a route rank (expected 0..%d: 0 the primary, r "
                                      "the (r+1)-th routed expert; at most %d experts are routed)", w, n->query,
                                      ranks - 1, ranks);
            }
            MOT_TRY(add_field(n, "query", 0, 1));
            MOT_TRY(push_item(n, scalar_text(v)));
        }
        break;
    default:
        MOT_TRY(read_expert(t, m, what, p, n));
    }
    MOT_TRY(yaml_tree_require(t, m, what, "inputs", &v));
    MOT_TRY(read_inputs(t, v, what, "inputs", n));
    /* an attention's listeners (docs/pipeline.md): experts that query it when primary but
     * whose latents are not attended; absent = none */
    if (kind == 3 && (v = yaml_tree_get(t, m, "listeners", NULL))) {
        const int speakers = n->n_inputs;
        MOT_TRY(read_inputs(t, v, what, "listeners", n));
        n->n_listeners = n->n_inputs - speakers;
    }
    return MOT_OK;
}

static mot_status resolve_inputs(yaml_tree *t, mot_graph *g) {
    id_table ids = {16, NULL, g};
    while (ids.cap < 2 * g->n_nodes) ids.cap *= 2;
    ids.slot = calloc((size_t)ids.cap, sizeof *ids.slot);
    if (!ids.slot) return mot_fail(MOT_ERR_NOMEM, "graph: out of memory");
    mot_status st = MOT_OK;
    for (int i = 0; i < g->n_nodes && st == MOT_OK; i++) {
        int j = id_find(&ids, g->nodes[i].id);
        if (j >= 0) {
            st = yaml_tree_fail(t, g->nodes[i].pos, "graph[%d]: duplicate id '%s' (first at graph[%d], %d:%d)", i,
                                g->nodes[i].id, j, g->nodes[j].pos.line, g->nodes[j].pos.col);
        } else {
            id_add(&ids, i);
        }
    }
    for (int i = 0; i < g->n_nodes && st == MOT_OK; i++) {
        mot_graph_node *n = &g->nodes[i];
        int *in = n->attention_inputs ? n->attention_inputs : n->inputs;
        for (int f = 0, k = 0; f < n->n_fields && st == MOT_OK; f++) {
            const mot_graph_field *fl = &n->fields[f];
            if (strcmp(fl->key, "inputs") && strcmp(fl->key, "listeners")) continue;
            for (int j = 0; j < fl->n_items && st == MOT_OK; j++, k++) {
                in[k] = id_find(&ids, fl->items[j]);
                if (in[k] < 0) {
                    st = yaml_tree_fail(t, n->input_pos[k], "graph[%d] (%s): %s: no node has the id '%s'", i, n->id,
                                        fl->key, fl->items[j]);
                }
            }
        }
    }
    free(ids.slot);
    return st;
}

mot_status mot_pipeline_load_graph(yaml_tree *t, yaml_node_t *graph, mot_pipeline *p) {
    MOT_TRY(yaml_tree_expect_sequence(t, graph, "graph"));
    p->graph_pos = yaml_tree_pos(graph);
    mot_graph *g = calloc(1, sizeof *g);
    int len = (int)(graph->data.sequence.items.top - graph->data.sequence.items.start);
    if (!g || !(g->nodes = calloc((size_t)len + 1, sizeof *g->nodes))) {
        free(g);
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", p->file);
    }
    p->graph = g; /* freed with the pipeline, also when a check below fails */
    for (int i = 0; i < len; i++) {
        g->n_nodes = i + 1;
        MOT_TRY(read_node(t, yaml_tree_node(t, graph->data.sequence.items.start[i]), i, p, &g->nodes[i]));
    }
    MOT_TRY(resolve_inputs(t, g));
    MOT_TRY(mot_graph_validate(p, g, NULL));
    /* A stack node's number: the interaction it follows (stack{q} after reverse{q-1}, as in
     * the expansion); the scheduler tags its ops and events with it. */
    int *after = calloc((size_t)p->n_experts, sizeof *after);
    if (!after) return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", p->file);
    for (int i = 0; i < g->n_nodes; i++) {
        mot_graph_node *n = &g->nodes[i];
        if (!strcmp(n->kind, "stack")) n->stack = after[n->expert];
        if (!strcmp(n->kind, "projector") && n->reverse) after[n->expert] = n->stack + 1;
    }
    free(after);
    return MOT_OK;
}
