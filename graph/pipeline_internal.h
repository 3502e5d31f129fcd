/* What the parts of graph/ share: path resolution, the checks that span several keys, and the
 * check of an expanded file's `graph:` section. Not part of the API. */
#ifndef MOT_GRAPH_PIPELINE_INTERNAL_H
#define MOT_GRAPH_PIPELINE_INTERNAL_H

#include "graph/pipeline.h"
#include "graph/yaml_tree.h"

/* `rel` as seen from the folder of `pipeline_file`: absolute paths stay; relative ones are
 * joined to that folder's real path (so the expanded form works from anywhere), with leading
 * "./" and "../" folded in. Heap string, NULL when out of memory. */
char *mot_pipeline_resolve_path(const char *pipeline_file, const char *rel);

/* Checks that span keys: unique expert names, router.top_k <= experts, heads | shared_dim,
 * explicit placement lists (present exactly with explicit, one index per stack, strictly
 * increasing), and, for experts with a declared depth, the placement itself. */
mot_status mot_pipeline_validate(const mot_pipeline *p);

/* Reads the file's `graph:` sequence into p->graph: node syntax (keys by kind, types, unique
 * ids, known experts, inputs naming nodes), then mot_graph_validate's topology rules. */
mot_status mot_pipeline_load_graph(yaml_tree *t, yaml_node_t *graph, mot_pipeline *p);

/* A name usable inside tensor names: [A-Za-z0-9_-]+ (graph/pipeline_names.c). */
int mot_pipeline_valid_name(const char *s);

/* The spellings of the choice keys, in enum order, NULL-terminated (graph/pipeline_names.c). */
extern const char *const mot_placement_names[];   /* interaction.placement */
extern const char *const mot_latent_norm_names[]; /* interaction.norm */

#endif
