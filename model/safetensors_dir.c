/* A model folder: model.safetensors, or model.safetensors.index.json whose weight_map
 * ({tensor: shard file}) names shards in the same folder. Each shard is mapped once and every
 * listed tensor must be found in the shard the index names. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/json.h"
#include "model/safetensors_internal.h"

#define INDEX_NAME "model.safetensors.index.json"

/* A shard must be a plain file name: no folder part, so it cannot escape the model folder. */
static int is_plain_file_name(const char *s) {
    return s[0] != '\0' && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/') &&
           !strchr(s, '\\');
}

/* Maps every shard named in weight_map once; shard_files gets {shard: file index}. */
static mot_status open_shards(mot_st_set *set, const char *dir, const char *index_path,
                              const json_t *weight_map, json_t *shard_files) {
    const char *name;
    const json_t *shard;
    json_object_foreach((json_t *)weight_map, name, shard) {
        if (!json_is_string(shard)) {
            return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': shard is not a string", index_path,
                            name);
        }
        const char *file = json_string_value(shard);
        if (!is_plain_file_name(file)) {
            return mot_fail(MOT_ERR_FORMAT,
                            "%s: tensor '%s': shard '%s' is not a file name inside the model "
                            "folder",
                            index_path, name, file);
        }
        if (json_object_get(shard_files, file)) {
            continue;
        }
        char *path = mot_path_join(dir, file);
        if (!path) {
            return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", index_path);
        }
        mot_status st = MOT_OK;
        int fi = -1;
        if (!mot_file_exists(path)) {
            st = mot_fail(MOT_ERR_IO, "%s: shard '%s' (listed for tensor '%s') does not exist",
                          index_path, file, name);
        } else {
            st = mot_st_set_add_file(set, path, &fi);
        }
        free(path);
        MOT_TRY(st);
        json_object_set_new(shard_files, file, json_integer(fi));
    }
    return MOT_OK;
}

static mot_status check_listed_tensors(const mot_st_set *set, const char *index_path,
                                       const json_t *weight_map, const json_t *shard_files) {
    const char *name;
    const json_t *shard;
    json_object_foreach((json_t *)weight_map, name, shard) {
        const char *file = json_string_value(shard);
        int fi = (int)json_integer_value(json_object_get(shard_files, file));
        int i = mot_st_set_lookup(set, name);
        if (i < 0 || set->file_of[i] != fi) {
            return mot_fail(MOT_ERR_FORMAT,
                            "%s: tensor '%s': listed in " INDEX_NAME " in shard %s but not found "
                            "there",
                            index_path, name, file);
        }
    }
    return MOT_OK;
}

/* The bytes of the distinct shards weight_map names (what loading reads, for the progress
 * line); names that are not plain files count 0 here and fail in open_shards. */
static uint64_t shard_bytes(const char *dir, const json_t *weight_map) {
    json_t *seen = json_object();
    uint64_t total = 0;
    const char *name;
    const json_t *shard;
    json_object_foreach((json_t *)weight_map, name, shard) {
        const char *file = json_string_value(shard);
        if (!seen || !file || !is_plain_file_name(file) || json_object_get(seen, file)) {
            continue;
        }
        json_object_set_new(seen, file, json_true());
        char *path = mot_path_join(dir, file);
        struct stat st;
        if (path && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            total += (uint64_t)st.st_size;
        }
        free(path);
    }
    json_decref(seen);
    return total;
}

static mot_status open_sharded(const char *dir, const char *index_path, mot_st_set *set) {
    json_t *index;
    MOT_TRY(mot_json_load(index_path, &index));
    const json_t *weight_map = json_object_get(index, "weight_map");
    json_t *shard_files = json_object();
    mot_status st = MOT_OK;
    if (!shard_files) {
        st = mot_fail(MOT_ERR_NOMEM, "%s: out of memory", index_path);
    } else if (!json_is_object(weight_map)) {
        st = mot_fail(MOT_ERR_FORMAT, "%s: key 'weight_map': missing or not an object",
                      index_path);
    } else if (json_object_size(weight_map) == 0) {
        st = mot_fail(MOT_ERR_FORMAT, "%s: key 'weight_map': lists no tensors", index_path);
    }
    if (st == MOT_OK) {
        mot_load_begin(dir, shard_bytes(dir, weight_map));
        st = open_shards(set, dir, index_path, weight_map, shard_files);
        mot_load_end();
    }
    if (st == MOT_OK) {
        st = mot_st_set_index(set);
    }
    if (st == MOT_OK) {
        st = check_listed_tensors(set, index_path, weight_map, shard_files);
    }
    json_decref(shard_files);
    json_decref(index);
    return st;
}

mot_status mot_st_open_dir(const char *dir, mot_st_set **out) {
    *out = NULL;
    char *single = mot_path_join(dir, "model.safetensors");
    char *index_path = mot_path_join(dir, INDEX_NAME);
    mot_status st = MOT_OK;
    if (!single || !index_path) {
        st = mot_fail(MOT_ERR_NOMEM, "%s: out of memory", dir);
    } else if (mot_file_exists(single)) {
        struct stat sb;
        mot_load_begin(dir, stat(single, &sb) == 0 ? (uint64_t)sb.st_size : 0);
        st = mot_st_open_file(single, out);
        mot_load_end();
    } else if (mot_file_exists(index_path)) {
        mot_st_set *set;
        st = mot_st_set_new(index_path, &set);
        if (st == MOT_OK) {
            st = open_sharded(dir, index_path, set);
            if (st == MOT_OK) {
                *out = set;
            } else {
                mot_st_close(set);
            }
        }
    } else {
        st = mot_fail(MOT_ERR_IO, "%s: no model.safetensors or " INDEX_NAME, dir);
    }
    free(single);
    free(index_path);
    return st;
}
