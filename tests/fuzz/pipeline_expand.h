/* The expanded form of a pipeline as the fuzz target and its seed tool write it: depths from
 * the experts' declared `depth`, else FUZZ_DEFAULT_DEPTH, since neither reads config.json. */
#ifndef MOT_TESTS_FUZZ_PIPELINE_EXPAND_H
#define MOT_TESTS_FUZZ_PIPELINE_EXPAND_H

#include <stddef.h>

#include "graph/pipeline.h"

#define FUZZ_DEFAULT_DEPTH 12

/* The expanded YAML (dot: the Graphviz form) of p, heap; NULL when p does not expand (the
 * error is in mot_last_error). *len: its length. */
char *fuzz_pipeline_expand(const mot_pipeline *p, int dot, size_t *len);

#endif
