/* Paths in a pipeline file are relative to the file's folder. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/mapped_file.h"
#include "graph/pipeline_internal.h"

/* The folder part of `file` ("." when it has none), heap. */
static char *folder_of(const char *file) {
    const char *slash = strrchr(file, '/');
    if (!slash) {
        return strdup(".");
    }
    if (slash == file) {
        return strdup("/");
    }
    return strndup(file, (size_t)(slash - file));
}

char *mot_pipeline_resolve_path(const char *pipeline_file, const char *rel) {
    if (rel[0] == '/') {
        return strdup(rel);
    }
    char *folder = folder_of(pipeline_file);
    if (!folder) {
        return NULL;
    }
    /* The real path has no symlinks or "..", so a leading "../" of rel can drop its last
     * component exactly. When the folder cannot be resolved, keep it as written. */
    char *real = realpath(folder, NULL);
    if (!real) {
        char *joined = mot_path_join(folder, rel);
        free(folder);
        return joined;
    }
    free(folder);
    size_t len = strlen(real);
    for (;;) {
        if (!strncmp(rel, "./", 2)) {
            rel += 2;
        } else if (!strcmp(rel, ".")) {
            rel += 1;
        } else if (!strncmp(rel, "../", 3) || !strcmp(rel, "..")) {
            rel += rel[2] ? 3 : 2;
            char *slash = strrchr(real, '/');
            len = slash && slash != real ? (size_t)(slash - real) : 1; /* "/.." is "/" */
            real[len] = '\0';
        } else {
            break;
        }
        while (*rel == '/') {
            rel++;
        }
    }
    char *joined = *rel ? mot_path_join(real, rel) : strdup(real);
    free(real);
    return joined;
}
