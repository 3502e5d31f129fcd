/* A YAML file loaded whole with libyaml's document API, and typed reads of its nodes whose
 * errors read "FILE:LINE:COL: error: WHAT: expected ..., found ..." (1-based positions). */
#ifndef MOT_GRAPH_YAML_TREE_H
#define MOT_GRAPH_YAML_TREE_H

#include <yaml.h>

#include "graph/pipeline.h"

typedef struct {
    const char *file; /* as given, for messages */
    yaml_document_t doc;
    int loaded;
} yaml_tree;

/* Reads and parses `file` (one document); `kind` ("pipeline", "schedule") names it in
 * messages. Errors: unreadable file, not a regular file or over MOT_YAML_MAX_FILE_BYTES
 * (MOT_ERR_IO), the limits of graph/yaml_limits.h, YAML syntax (libyaml's problem and its
 * position), a second document. An empty document loads with a NULL root. */
mot_status yaml_tree_load(yaml_tree *t, const char *file, const char *kind);
void yaml_tree_free(yaml_tree *t);

yaml_node_t *yaml_tree_root(yaml_tree *t);
yaml_node_t *yaml_tree_node(yaml_tree *t, int index);
mot_src_pos yaml_tree_pos(const yaml_node_t *n);

/* "FILE:LINE:COL: error: " + message, as MOT_ERR_FORMAT. */
mot_status yaml_tree_fail(const yaml_tree *t, mot_src_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "a mapping", "a sequence" or "'text'" (a scalar, shortened), for "found ..." messages. */
const char *yaml_tree_describe(const yaml_node_t *n, char *buf, size_t size);

/* Checks a node's type; `what` names it in the message ("router", "experts[1]"). */
mot_status yaml_tree_expect_mapping(yaml_tree *t, yaml_node_t *n, const char *what);
mot_status yaml_tree_expect_sequence(yaml_tree *t, yaml_node_t *n, const char *what);

/* Every key of mapping `m` is a scalar, appears once and is in `allowed` (NULL-terminated);
 * errors: "unknown key 'k' in WHAT (expected a, b, c)", "duplicate key 'k' in WHAT (first at
 * L:C)". */
mot_status yaml_tree_check_keys(yaml_tree *t, yaml_node_t *m, const char *what,
                                const char *const *allowed);

/* The value of `key` in mapping m, or NULL; *key_pos (optional) gets the key's position. */
yaml_node_t *yaml_tree_get(yaml_tree *t, yaml_node_t *m, const char *key, mot_src_pos *key_pos);
/* The same, an error "WHAT: missing required key 'key'" at the mapping when absent. */
mot_status yaml_tree_require(yaml_tree *t, yaml_node_t *m, const char *what, const char *key,
                             yaml_node_t **out);

/* Typed scalars; `what` names the value ("interaction.stacks"). Strings are copied (heap) and
 * may not contain NUL. Integers are decimal, optionally signed, and must lie in [lo, hi]. */
mot_status yaml_tree_string(yaml_tree *t, yaml_node_t *n, const char *what, char **out);
mot_status yaml_tree_int(yaml_tree *t, yaml_node_t *n, const char *what, long long lo,
                         long long hi, int *out);
mot_status yaml_tree_u64(yaml_tree *t, yaml_node_t *n, const char *what,
                         unsigned long long *out);
mot_status yaml_tree_float(yaml_tree *t, yaml_node_t *n, const char *what, double *out);
/* A scalar that must be one of `choices` (NULL-terminated); *out gets its index. */
mot_status yaml_tree_choice(yaml_tree *t, yaml_node_t *n, const char *what,
                            const char *const *choices, int *out);

/* "a, b, c" of a NULL-terminated list, into buf. */
const char *yaml_tree_join(const char *const *list, char *buf, size_t size);

#endif
