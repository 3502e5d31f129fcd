/* A model folder: model.safetensors alone, or shards listed by model.safetensors.index.json,
 * and the ways an index can be wrong. */
#include <stdio.h>
#include <string.h>

#include "model/safetensors.h"
#include "tests/loading/test_support.h"

static const char *root;

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"

static const float w1[4] = {1, 2, 3, 4};
static const float w2[2] = {5, 6};
static const float w3[3] = {7, 8, 9};

/* A folder with the two standard shards: SHARD1 holds a and b, SHARD2 holds c. */
static char *make_sharded(char *dir, const char *name, const char *index_json) {
    char path[1024];
    test_subdir(dir, root, name);
    mot_st_entry s1[2] = {
        {.name = "a", .dtype = MOT_DTYPE_F32, .ndim = 2, .shape = {2, 2}, .data = w1},
        {.name = "b", .dtype = MOT_DTYPE_F32, .ndim = 1, .shape = {2}, .data = w2},
    };
    mot_st_entry s2[1] = {{.name = "c", .dtype = MOT_DTYPE_F32, .ndim = 1, .shape = {3}, .data = w3}};
    CHECK_OK(mot_st_write(test_path(path, dir, SHARD1), s1, 2, 0));
    CHECK_OK(mot_st_write(test_path(path, dir, SHARD2), s2, 1, 0));
    test_write_text(test_path(path, dir, "model.safetensors.index.json"), index_json);
    return dir;
}

static const char *good_index = "{\"metadata\": {\"total_size\": 36}, \"weight_map\": {"
                                "\"a\": \"" SHARD1 "\", \"b\": \"" SHARD1 "\", \"c\": \"" SHARD2 "\"}}";

static void test_single_and_missing(void) {
    char dir[1024], path[1024];
    mot_st_set *set = NULL;
    test_subdir(dir, root, "empty");
    CHECK_FAIL(mot_st_open_dir(dir, &set), MOT_ERR_IO,
               "empty: no model.safetensors or model.safetensors.index.json");
    CHECK(set == NULL);

    test_subdir(dir, root, "single");
    mot_st_entry e = {.name = "a", .dtype = MOT_DTYPE_F32, .ndim = 1, .shape = {4}, .data = w1};
    CHECK_OK(mot_st_write(test_path(path, dir, "model.safetensors"), &e, 1, 0));
    CHECK_OK(mot_st_open_dir(dir, &set));
    CHECK(mot_st_count(set) == 1 && mot_st_find(set, "a"));
    CHECK(strcmp(mot_st_file_of(set, mot_st_find(set, "a")), path) == 0);
    mot_st_close(set);
}

static void test_sharded(void) {
    char dir[1024], path[1024];
    mot_st_set *set = NULL;
    make_sharded(dir, "sharded", good_index);
    CHECK_OK(mot_st_open_dir(dir, &set));
    if (!set) {
        return;
    }
    CHECK(mot_st_count(set) == 3);
    const mot_tensor *c = mot_st_find(set, "c");
    CHECK(c && c->nbytes == 12 && ((const float *)c->data)[2] == 9.0f);
    CHECK(strcmp(mot_st_file_of(set, c), test_path(path, dir, SHARD2)) == 0);
    const mot_tensor *a = mot_st_find(set, "a");
    CHECK(a && ((const float *)a->data)[3] == 4.0f);
    CHECK(strcmp(mot_st_file_of(set, a), test_path(path, dir, SHARD1)) == 0);
    /* A missing tensor of a sharded checkpoint is reported against the index. */
    char want[1200];
    snprintf(want, sizeof want, "%s/model.safetensors.index.json: tensor 'lm_head.weight': missing",
             dir);
    CHECK_FAIL(mot_st_expect(set, "lm_head.weight", 1, (const int64_t[]){3}, NULL), MOT_ERR_SHAPE,
               want);
    /* A mis-shaped one against the shard it lives in. */
    snprintf(want, sizeof want, "%s/" SHARD2 ": tensor 'c': expected [4], found [3]", dir);
    CHECK_FAIL(mot_st_expect(set, "c", 1, (const int64_t[]){4}, NULL), MOT_ERR_SHAPE, want);
    mot_st_close(set);
}

static void test_bad_indexes(void) {
    char dir[1024], path[1024];
    mot_st_set *set = NULL;
    make_sharded(dir, "noshard",
                 "{\"weight_map\": {\"a\": \"" SHARD1 "\", \"x\": \"model-00003-of-00003.safetensors\"}}");
    CHECK_FAIL(mot_st_open_dir(dir, &set), MOT_ERR_IO,
               "model.safetensors.index.json: shard 'model-00003-of-00003.safetensors' (listed "
               "for tensor 'x') does not exist");
    CHECK(set == NULL);

    make_sharded(dir, "notthere",
                 "{\"weight_map\": {\"a\": \"" SHARD1 "\", \"c\": \"" SHARD1 "\"}}");
    CHECK_FAIL(mot_st_open_dir(dir, &set), MOT_ERR_FORMAT,
               "tensor 'c': listed in model.safetensors.index.json in shard " SHARD1
               " but not found there");
    make_sharded(dir, "absent",
                 "{\"weight_map\": {\"a\": \"" SHARD1 "\", \"zz\": \"" SHARD2 "\"}}");
    CHECK_FAIL(mot_st_open_dir(dir, &set), MOT_ERR_FORMAT,
               "tensor 'zz': listed in model.safetensors.index.json in shard " SHARD2
               " but not found there");

    make_sharded(dir, "escape", "{\"weight_map\": {\"a\": \"../" SHARD1 "\"}}");
    CHECK_FAIL(mot_st_open_dir(dir, &set), MOT_ERR_FORMAT,
               "tensor 'a': shard '../" SHARD1 "' is not a file name inside the model folder");
    make_sharded(dir, "dotdot", "{\"weight_map\": {\"a\": \"..\"}}");
    CHECK_FAIL(mot_st_open_dir(dir, &set), MOT_ERR_FORMAT, "shard '..' is not a file name");
    make_sharded(dir, "absolute", "{\"weight_map\": {\"a\": \"/etc/passwd\"}}");
    CHECK_FAIL(mot_st_open_dir(dir, &set), MOT_ERR_FORMAT, "shard '/etc/passwd' is not a file name");
    make_sharded(dir, "notstring", "{\"weight_map\": {\"a\": 1}}");
    CHECK_FAIL(mot_st_open_dir(dir, &set), MOT_ERR_FORMAT, "tensor 'a': shard is not a string");

    make_sharded(dir, "nomap", "{\"metadata\": {}}");
    CHECK_FAIL(mot_st_open_dir(dir, &set), MOT_ERR_FORMAT,
               "model.safetensors.index.json: key 'weight_map': missing or not an object");
    make_sharded(dir, "emptymap", "{\"weight_map\": {}}");
    CHECK_FAIL(mot_st_open_dir(dir, &set), MOT_ERR_FORMAT, "key 'weight_map': lists no tensors");
    make_sharded(dir, "badjson", "{\"weight_map\": {\"a\": }");
    CHECK_FAIL(mot_st_open_dir(dir, &set), MOT_ERR_FORMAT,
               "model.safetensors.index.json:1:");

    /* The same tensor in two shards. */
    make_sharded(dir, "twice", good_index);
    mot_st_entry dup = {.name = "a", .dtype = MOT_DTYPE_F32, .ndim = 1, .shape = {3}, .data = w3};
    CHECK_OK(mot_st_write(test_path(path, dir, SHARD2), &dup, 1, 0));
    CHECK_FAIL(mot_st_open_dir(dir, &set), MOT_ERR_FORMAT, "tensor 'a': found twice");

    /* A broken shard: the error names the shard file. */
    make_sharded(dir, "brokenshard", good_index);
    test_write_st_raw(test_path(path, dir, SHARD2),
                      "{\"c\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", 4);
    CHECK_FAIL(mot_st_open_dir(dir, &set), MOT_ERR_FORMAT,
               SHARD2 ": tensor 'c': data_offsets [0, 12] exceed the data section (4 bytes)");
    CHECK(set == NULL);
}

int main(void) {
    root = test_mkdtemp();
    test_single_and_missing();
    test_sharded();
    test_bad_indexes();
    test_remove_tree(root);
    return test_finish("test_safetensors_dir");
}
