/* Adds the expanded form of every pipeline seed that expands (X -> X.expanded), so the fuzzer
 * starts with `graph:` sections that check out: it would hardly write one itself.
 * usage: pipeline_seed CORPUS_DIR (after tests/fuzz/make_seeds.py pipeline CORPUS_DIR). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/pipeline.h"
#include "tests/fuzz/pipeline_expand.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        perror(argv[1]);
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".yaml") != 0) {
            continue; /* also skips what an earlier run wrote */
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        mot_pipeline *p = NULL;
        size_t len = 0;
        char *text = mot_pipeline_load(path, &p) == MOT_OK ? fuzz_pipeline_expand(p, 0, &len) : NULL;
        mot_pipeline_free(p);
        if (!text) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s.expanded", argv[1], e->d_name);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(text, 1, len, f);
            fclose(f);
        }
        free(text);
    }
    closedir(d);
    return 0;
}
