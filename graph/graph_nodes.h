/* The dataflow graph of a pipeline. The expansion of its settings (what `mot graph` writes for a
 * compact file) has these nodes, in this order (docs/pipeline.md); an expanded file's `graph:`
 * section may give another topology (graph_load.c), within the rules of graph_validate.c:
 *   router
 *   for each stack q:  E/stack{q} (every expert E), E/forward{q}, attention{q}, E/reverse{q}
 *   E/stack{Q}         the layers after the last interaction, when there are any
 *   E/sampler          final norm, LM head and sampling
 * Field values are kept raw (unquoted), so a loaded graph is written back as it was read. */
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

typedef struct mot_graph_node {
    char *id;          /* "router", "math/stack0", "attention2", ... */
    const char *kind;  /* router, stack, projector, attention, sampler */
    int expert;        /* -1 for router and attention nodes */
    int stack;         /* -1 for router and sampler nodes */
    int first_layer, last_layer; /* stack nodes: inclusive layer range */
    int reverse;       /* projector nodes: 1 for the reverse direction */
    int n_fields;      /* after id and kind, in writing order; `inputs` (then an attention's
                        * `listeners`) last when present */
    mot_graph_field fields[MOT_GRAPH_MAX_FIELDS];
    int n_inputs;
    int inputs[8];     /* node indices; attention nodes use `attention_inputs` */
    int *attention_inputs; /* attention: [n_inputs] (one per expert): the `inputs` (the experts that
                            * speak: their latents are the keys and values), then the `listeners` */
    int n_listeners;   /* attention: the last n_listeners inputs are listeners: forward projectors of
                        * experts that query when primary but are not attended (docs/pipeline.md) */
    int query;         /* attention: the route rank of the expert whose queries attend (its `query`
                        * key: 0 = the primary, the default; r = the (r+1)-th routed expert) */
    /* A graph loaded from a file (graph_load.c) keeps where each part was, so errors found
     * later (a depth known only at model load) still name FILE:LINE:COL; zero when expanded. */
    mot_src_pos pos, layers_pos, query_pos; /* query_pos: of an attention's `query` value */
    mot_src_pos *input_pos; /* [n_inputs] or NULL */
} mot_graph_node;

typedef struct mot_graph {
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

/* The graph a pipeline runs (model load, `mot graph`): its file's `graph:` section when it has
 * one (copied, and checked against depths: each expert's stacks must end on its last layer,
 * errors at the stack's FILE:LINE:COL), else the expansion of its settings. */
mot_status mot_pipeline_graph(const mot_pipeline *p, const int *depths, mot_graph *g);

/* The topology rules a hand-written graph must meet (graph_validate.c; docs/pipeline.md,
 * "The node and port vocabulary"), each error at the offending node, field or input. depths:
 * [n_experts] or NULL (then only the experts' declared `depth`s are checked). */
mot_status mot_graph_validate(const mot_pipeline *p, const mot_graph *g, const int *depths);

/* The node's input indices (attention nodes have one per expert: speakers, then listeners). */
const int *mot_graph_node_inputs(const mot_graph_node *n);

#endif
