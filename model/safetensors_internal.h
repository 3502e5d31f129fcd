/* Private to model/safetensors_*.c: the tensor set, its files and its name index. */
#ifndef MOT_MODEL_SAFETENSORS_INTERNAL_H
#define MOT_MODEL_SAFETENSORS_INTERNAL_H

#include "common/mapped_file.h"
#include "model/safetensors.h"

typedef struct {
    char *path;
    mot_mapped_file map;
} mot_st_file;

struct mot_st_set {
    char *label;            /* what errors about the whole set name: the file, index or dir */
    mot_st_file *files;     /* one per file; a sharded checkpoint has many */
    int n_files;
    mot_tensor *tensors;    /* every tensor of every file; names are owned here */
    int *file_of;           /* tensors[i] came from files[file_of[i]] */
    int n_tensors, cap_tensors;
    int *slots;             /* open-addressing name index: tensor index + 1, 0 = empty */
    size_t n_slots;         /* a power of two, at least twice n_tensors */
};

/* An empty set whose errors name `label`. */
mot_status mot_st_set_new(const char *label, mot_st_set **out);
/* Maps `path`, validates its header and appends its tensors; returns the file's index.
 * A name already in the set is an error naming both files. */
mot_status mot_st_set_add_file(mot_st_set *set, const char *path, int *file_index);
/* Builds the name index; call once after the last file. */
mot_status mot_st_set_index(mot_st_set *set);
/* The index of a tensor by name, or -1. */
int mot_st_set_lookup(const mot_st_set *set, const char *name);

#endif
