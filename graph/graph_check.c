/* An expanded file's `graph:` section must be exactly the nodes that the rest of the file
 * expands to: same order, ids, kinds and fields. It is a record for readers and tools, so a
 * hand edit that disagrees with the settings is an error rather than silently ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "graph/graph_nodes.h"
#include "graph/pipeline_internal.h"

/* A node's value as text for messages: "x" or "[a, b]". */
static void render_expected(const mot_graph_field *f, char *buf, size_t size) {
    size_t k = 0;
    buf[0] = '\0';
    k += snprintf(buf + k, size - k, "%s", f->is_list ? "[" : "");
    for (int i = 0; i < f->n_items && k < size; i++) {
        k += snprintf(buf + k, size - k, "%s%s", i ? ", " : "", f->items[i]);
    }
    if (f->is_list && k < size) {
        snprintf(buf + k, size - k, "]");
    }
}

static void render_found(yaml_tree *t, yaml_node_t *v, char *buf, size_t size) {
    if (v->type == YAML_SCALAR_NODE) {
        snprintf(buf, size, "%s", (const char *)v->data.scalar.value);
        return;
    }
    if (v->type == YAML_MAPPING_NODE) {
        snprintf(buf, size, "a mapping");
        return;
    }
    size_t k = snprintf(buf, size, "[");
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top && k < size; it++) {
        yaml_node_t *item = yaml_tree_node(t, *it);
        const char *s = item->type == YAML_SCALAR_NODE ? (const char *)item->data.scalar.value : "...";
        k += snprintf(buf + k, size - k, "%s%s", it > v->data.sequence.items.start ? ", " : "", s);
    }
    if (k < size) {
        snprintf(buf + k, size - k, "]");
    }
}

static int field_matches(yaml_tree *t, yaml_node_t *v, const mot_graph_field *f) {
    if (!f->is_list) {
        return v->type == YAML_SCALAR_NODE && !strcmp((const char *)v->data.scalar.value, f->items[0]);
    }
    if (v->type != YAML_SEQUENCE_NODE ||
        v->data.sequence.items.top - v->data.sequence.items.start != f->n_items) {
        return 0;
    }
    for (int i = 0; i < f->n_items; i++) {
        yaml_node_t *item = yaml_tree_node(t, v->data.sequence.items.start[i]);
        if (item->type != YAML_SCALAR_NODE || strcmp((const char *)item->data.scalar.value, f->items[i])) {
            return 0;
        }
    }
    return 1;
}

/* A scalar key of a node, "" when absent or not a scalar. */
static const char *scalar_of(yaml_tree *t, yaml_node_t *m, const char *key) {
    yaml_node_t *v = yaml_tree_get(t, m, key, NULL);
    return v && v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
}

static mot_status check_node(yaml_tree *t, yaml_node_t *n, int i, const mot_graph_node *want) {
    char what[160];
    snprintf(what, sizeof what, "graph[%d]", i);
    MOT_TRY(yaml_tree_expect_mapping(t, n, what));
    const char *id = scalar_of(t, n, "id"), *kind = scalar_of(t, n, "kind");
    if (strcmp(id, want->id) || strcmp(kind, want->kind)) {
        return yaml_tree_fail(t, yaml_tree_pos(n), "graph[%d]: expected node '%s' (%s), found '%s' (%s)",
                              i, want->id, want->kind, id, *kind ? kind : "no kind");
    }
    const char *allowed[MOT_GRAPH_MAX_FIELDS + 3] = {"id", "kind"};
    for (int f = 0; f < want->n_fields; f++) {
        allowed[2 + f] = want->fields[f].key;
    }
    snprintf(what, sizeof what, "graph[%d] (%s)", i, want->id);
    MOT_TRY(yaml_tree_check_keys(t, n, what, allowed));
    for (int f = 0; f < want->n_fields; f++) {
        const mot_graph_field *field = &want->fields[f];
        char expected[512], found[512];
        render_expected(field, expected, sizeof expected);
        mot_src_pos key_pos;
        yaml_node_t *v = yaml_tree_get(t, n, field->key, &key_pos);
        if (!v) {
            return yaml_tree_fail(t, yaml_tree_pos(n), "%s: missing key '%s' (expected %s)", what,
                                  field->key, expected);
        }
        if (!field_matches(t, v, field)) {
            render_found(t, v, found, sizeof found);
            return yaml_tree_fail(t, yaml_tree_pos(v), "%s: %s: expected %s, found %s", what,
                                  field->key, expected, found);
        }
    }
    return MOT_OK;
}

mot_status mot_pipeline_check_graph(yaml_tree *t, yaml_node_t *graph, const mot_pipeline *p) {
    MOT_TRY(yaml_tree_expect_sequence(t, graph, "graph"));
    int *depths = malloc(sizeof *depths * (size_t)p->n_experts);
    if (!depths) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", p->file);
    }
    for (int m = 0; m < p->n_experts; m++) {
        if (p->experts[m].depth <= 0) {
            free(depths);
            return yaml_tree_fail(t, p->experts[m].pos,
                                  "experts[%d] (%s): 'depth' is required when the file has a graph "
                                  "section (the stack nodes' layers depend on it)",
                                  m, p->experts[m].name);
        }
        depths[m] = p->experts[m].depth;
    }
    mot_graph g;
    mot_status st = mot_graph_expand(p, depths, &g);
    free(depths);
    MOT_TRY(st);
    int found = (int)(graph->data.sequence.items.top - graph->data.sequence.items.start);
    for (int i = 0; i < found && st == MOT_OK; i++) {
        yaml_node_t *n = yaml_tree_node(t, graph->data.sequence.items.start[i]);
        if (i >= g.n_nodes) {
            char desc[96];
            if (n->type == YAML_MAPPING_NODE) {
                snprintf(desc, sizeof desc, "'%s'", scalar_of(t, n, "id"));
            } else {
                yaml_tree_describe(n, desc, sizeof desc);
            }
            st = yaml_tree_fail(t, yaml_tree_pos(n),
                                "graph[%d]: unexpected node %s (the pipeline expands to %d nodes)",
                                i, desc, g.n_nodes);
        } else {
            st = check_node(t, n, i, &g.nodes[i]);
        }
    }
    if (st == MOT_OK && found < g.n_nodes) {
        st = yaml_tree_fail(t, yaml_tree_pos(graph),
                            "graph: node '%s' (%s) is missing at graph[%d] (the pipeline expands to "
                            "%d nodes, found %d)",
                            g.nodes[found].id, g.nodes[found].kind, found, g.n_nodes, found);
    }
    mot_graph_free(&g);
    return st;
}
