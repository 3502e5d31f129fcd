/* libFuzzer target: a pipeline file through the graph layer only (graph/: yaml_tree.c,
 * pipeline_parse.c, pipeline_paths.c, pipeline_validate.c, placement.c, graph_nodes.c,
 * graph_load.c, graph_validate.c, graph_select.c, graph_write.c). No expert folder is read: an expert's depth is its declared
 * `depth`, else FUZZ_DEFAULT_DEPTH (where `mot graph` would read config.json).
 * When the input loads and expands, the round trip `mot graph` promises must hold: the written
 * expanded YAML loads again (its `graph:` section loaded and its topology checked) and writes
 * the same text a second time. The dot form is written too.
 * Build and run: scripts/fuzz.sh pipeline SECONDS. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/pipeline.h"
#include "tests/fuzz/fuzz_files.h"
#include "tests/fuzz/pipeline_expand.h"

/* A 10 KB file may ask for 256 experts x 1024 stacks of 1024 layers: `mot graph` writes 94 MB
 * for it (1.6 s in a release build, over 10 s under ASan). Bounded by the parser's limits, so
 * not a finding; the round trip is kept to graphs whose text a pipeline file may hold (YAML
 * limits: 1 MiB and 100000 nodes a file, and an expanded node line is ~75 bytes, ~14 nodes). */
#define MAX_NODES 4096
#define MAX_TEXT ((size_t)256 << 10)

static void round_trip(const mot_pipeline *p) {
    if ((long long)p->n_experts * (p->interaction.stacks + 1) > MAX_NODES) {
        return;
    }
    size_t len = 0, len2 = 0;
    char *dot = fuzz_pipeline_expand(p, 1, &len);
    free(dot);
    char *first = fuzz_pipeline_expand(p, 0, &len);
    if (!first || len > MAX_TEXT) {
        free(first);
        return;
    }
    mot_pipeline *q = NULL;
    if (fuzz_write("expanded.yaml", first, len) != 0 ||
        mot_pipeline_load(fuzz_path("expanded.yaml"), &q) != 0) {
        fprintf(stderr, "the expanded form does not load again: %s\n---\n%s", mot_last_error(), first);
        abort();
    }
    char *second = fuzz_pipeline_expand(q, 0, &len2);
    if (!second || len != len2 || memcmp(first, second, len) != 0) {
        fprintf(stderr, "the expanded form changes on a second round trip (%s)\n--- first\n%s--- second\n%s",
                second ? "other text" : mot_last_error(), first, second ? second : "");
        abort();
    }
    free(second);
    free(first);
    mot_pipeline_free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_dir("pipeline");
    if (fuzz_write("pipeline.yaml", data, size) != 0) {
        return 0;
    }
    mot_pipeline *p = NULL;
    if (mot_pipeline_load(fuzz_path("pipeline.yaml"), &p) == 0) {
        for (int m = 0; m < p->n_experts; m++) {
            if (mot_pipeline_find_expert(p, p->experts[m].name) != m) {
                abort(); /* names are unique: each finds its own expert */
            }
        }
        round_trip(p);
    }
    mot_pipeline_free(p);
    return 0;
}
