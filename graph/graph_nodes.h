/* The expanded dataflow graph of a pipeline: the nodes `mot graph` writes and an expanded file's
 * `graph:` section must list, in this order (docs/pipeline.md):
 *   router
 *   for each stack q:  E/stack{q} (every expert E), E/forward{q}, attention{q}, E/reverse{q}
 *   E/stack{Q}         the layers after the last interaction, when there are any
 *   E/sampler          final norm, LM head and sampling
 * Field values are kept raw (unquoted) so the writer and the checker compare like with like. */
#ifndef MOT_GRAPH_GRAPH_NODES_H
#define MOT_GRAPH_GRAPH_NODES_H

#include "graph/pipeline.h"

enum { MOT_GRAPH_MAX_FIELDS = 6 };

typedef struct {
    const char *key;
    int is_list;  /* written as [a, b, ...] */
    int n_items;  /* 1 for a scalar */
    char **items; /* raw text of each item */
} mot_graph_field;

typedef struct {
    char *id;          /* "router", "math/stack0", "attention2", ... */
    const char *kind;  /* router, stack, projector, attention, sampler */
    int expert;        /* -1 for router and attention nodes */
    int stack;         /* -1 for router and sampler nodes */
    int first_layer, last_layer; /* stack nodes: inclusive layer range */
    int reverse;       /* projector nodes: 1 for the reverse direction */
    int n_fields;      /* after id and kind, in writing order; `inputs` last when present */
    mot_graph_field fields[MOT_GRAPH_MAX_FIELDS];
    int n_inputs;
    int inputs[8];     /* node indices; attention nodes use `attention_inputs` */
    int *attention_inputs; /* attention: [n_inputs] (one per expert) */
} mot_graph_node;

typedef struct {
    int n_nodes;
    mot_graph_node *nodes;
} mot_graph;

/* depths: [n_experts] layers per expert. Runs mot_pipeline_placement for each expert, so a
 * placement that does not fit is reported here too. */
mot_status mot_graph_expand(const mot_pipeline *p, const int *depths, mot_graph *g);
void mot_graph_free(mot_graph *g);

/* The graph of one expert run alone (`mot run -m`): router, stack0 = layers [0, depth), sampler.
 * Expert index 0, no interaction. */
mot_status mot_graph_single(int depth, mot_graph *g);

/* The node's input indices (attention nodes have one per expert). */
const int *mot_graph_node_inputs(const mot_graph_node *n);

#endif
