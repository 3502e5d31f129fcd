/* Read-only memory mapping of a whole file (weights stay in the page cache, not the heap). */
#ifndef MOT_COMMON_MAPPED_FILE_H
#define MOT_COMMON_MAPPED_FILE_H

#include <stddef.h>

#include "mot.h"

typedef struct {
    const unsigned char *data; /* NULL for an empty file */
    size_t size;
} mot_mapped_file;

/* Errors: "<path>: cannot open: <strerror>" and the like. */
mot_status mot_map_file(const char *path, mot_mapped_file *out);
void mot_unmap_file(mot_mapped_file *mf);

/* Reads a whole (small) file into a NUL-terminated heap buffer. */
mot_status mot_read_file(const char *path, char **out, size_t *size);
int mot_file_exists(const char *path);

/* dir + "/" + name into a heap string. */
char *mot_path_join(const char *dir, const char *name);

#endif
