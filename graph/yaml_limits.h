/* Limits a YAML file (a pipeline or a schedule) is held to before libyaml builds its
 * document: libyaml's scanner is quadratic in the nesting of flow collections, and an alias
 * makes a node count once more each time it is used (a "billion laughs" file is small). The
 * check walks libyaml's events, so a deep file is refused when it passes the limit, not after
 * building it. Documented in docs/pipeline.md ("Limits"). */
#ifndef MOT_GRAPH_YAML_LIMITS_H
#define MOT_GRAPH_YAML_LIMITS_H

#include <stddef.h>

#include "mot.h"

#define MOT_YAML_MAX_FILE_BYTES ((size_t)1 << 20) /* 1 MiB: a pipeline file is a few KB */
#define MOT_YAML_MAX_DEPTH 64                     /* nested sequences and mappings */
#define MOT_YAML_MAX_NODES 100000                 /* scalars + collections, aliases expanded */
#define MOT_YAML_MAX_ANCHORS 1024

/* Errors, as MOT_ERR_FORMAT: "FILE:LINE:COL: error: nesting deeper than 64 levels",
 * "... more than 100000 YAML nodes (an alias counts its node each time it is used)",
 * "... more than 1024 anchors", "... alias *a is used inside the node it names". A syntax
 * error is not reported here (MOT_OK): loading the document reports it. */
mot_status yaml_limits_check(const char *file, const unsigned char *text, size_t size);

#endif
