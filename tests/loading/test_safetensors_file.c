/* One safetensors file: write/read round trip, accepted layouts, and every malformed header
 * rejected with a one-line message naming the file and the tensor. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/half.h"
#include "model/safetensors.h"
#include "tests/loading/test_support.h"

static const char *dir;

static void test_round_trip(void) {
    char path[1024];
    test_path(path, dir, "round.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6};            // a is [2, 3] F32
    uint16_t h[4] = {0x3c00, 0xc000, 0, 0x7bff}; // h is [4] F16: 1, -2, 0, 65504
    uint16_t b[4];                               // b is [2, 2] BF16
    for (int i = 0; i < 4; i++) {
        b[i] = mot_f32_to_bf16(0.5f * (float)i - 1.0f);
    }
    int32_t s = -7; // a scalar
    mot_st_entry e[5] = {
        {.name = "a", .dtype = MOT_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = a},
        {.name = "half", .dtype = MOT_DTYPE_F16, .ndim = 1, .shape = {4}, .data = h},
        {.name = "model.layers.0.bf", .dtype = MOT_DTYPE_BF16, .ndim = 2, .shape = {2, 2}, .data = b},
        {.name = "scalar", .dtype = MOT_DTYPE_I32, .ndim = 0, .data = &s},
        {.name = "empty", .dtype = MOT_DTYPE_F32, .ndim = 2, .shape = {0, 5}, .data = NULL},
    };
    CHECK_OK(mot_st_write(path, e, 5, 0));

    mot_st_set *set = NULL;
    CHECK_OK(mot_st_open_file(path, &set));
    if (!set) {
        return;
    }
    CHECK(mot_st_count(set) == 5);
    for (int i = 0; i < 5; i++) {
        const mot_tensor *t = mot_st_at(set, i);
        CHECK(t && strcmp(t->name, e[i].name) == 0); /* the order written */
        CHECK(mot_st_find(set, e[i].name) == t);
        CHECK(t->dtype == e[i].dtype && t->ndim == e[i].ndim);
        CHECK(strcmp(mot_st_file_of(set, t), path) == 0);
    }
    const mot_tensor *ta = mot_st_find(set, "a");
    CHECK(ta->shape[0] == 2 && ta->shape[1] == 3 && ta->nbytes == 24);
    CHECK(memcmp(ta->data, a, 24) == 0);
    CHECK(((uintptr_t)ta->data % 8) == 0); /* header padded to 8, the mapping page-aligned */
    const mot_tensor *th = mot_st_find(set, "half");
    CHECK(th->nbytes == 8 && mot_f16_to_f32(((const uint16_t *)th->data)[3]) == 65504.0f);
    CHECK(mot_f16_to_f32(((const uint16_t *)th->data)[1]) == -2.0f);
    const mot_tensor *tb = mot_st_find(set, "model.layers.0.bf");
    CHECK(mot_bf16_to_f32(((const uint16_t *)tb->data)[3]) == 0.5f);
    const mot_tensor *ts = mot_st_find(set, "scalar");
    CHECK(ts->ndim == 0 && ts->nbytes == 4 && *(const int32_t *)ts->data == -7);
    const mot_tensor *te = mot_st_find(set, "empty");
    CHECK(te->nbytes == 0 && te->shape[0] == 0 && te->shape[1] == 5);
    CHECK(mot_st_find(set, "nope") == NULL);
    CHECK(mot_st_at(set, 5) == NULL && mot_st_at(set, -1) == NULL);
    mot_st_close(set);

    /* The header length is a multiple of 8 and no temporary file is left behind. */
    FILE *f = fopen(path, "rb");
    unsigned char len[8] = {0};
    CHECK(f && fread(len, 1, 8, f) == 8);
    if (f) {
        fclose(f);
    }
    CHECK(len[0] % 8 == 0);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        CHECK(strstr(de->d_name, ".tmp.") == NULL);
    }
    if (d) {
        closedir(d);
    }
}

static void test_write_errors(void) {
    char path[1024];
    float x = 1;
    mot_st_entry twice[2] = {
        {.name = "x", .dtype = MOT_DTYPE_F32, .ndim = 0, .data = &x},
        {.name = "x", .dtype = MOT_DTYPE_F32, .ndim = 0, .data = &x},
    };
    CHECK_FAIL(mot_st_write(test_path(path, dir, "twice.safetensors"), twice, 2, 0), MOT_ERR_ARG,
               "twice.safetensors: tensor 'x': name given twice");
    CHECK_FAIL(mot_st_write(test_path(path, dir, "no/such/dir/x.safetensors"), twice, 1, 0),
               MOT_ERR_IO, "no/such/dir/x.safetensors: cannot create");
    mot_st_entry nodata = {.name = "y", .dtype = MOT_DTYPE_F32, .ndim = 1, .shape = {3}};
    CHECK_FAIL(mot_st_write(test_path(path, dir, "nodata.safetensors"), &nodata, 1, 0), MOT_ERR_ARG,
               "tensor 'y': no data");
    /* The output rules (common/safe_write.h): a symlink is refused and left alone, a device
     * only with force, and then a full device is an error with its reason. */
    mot_st_entry one = {.name = "x", .dtype = MOT_DTYPE_F32, .ndim = 0, .data = &x};
    char target[1024];
    test_path(target, dir, "link-target");
    FILE *t = fopen(target, "w");
    CHECK(t && fputs("keep", t) >= 0 && fclose(t) == 0);
    CHECK(symlink(target, test_path(path, dir, "link.safetensors")) == 0);
    CHECK_FAIL(mot_st_write(path, &one, 1, 0), MOT_ERR_ARG, "link.safetensors: is a symlink (refusing to replace it");
    struct stat lst;
    CHECK(lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode));
    CHECK_FAIL(mot_st_write(dir, &one, 1, 1), MOT_ERR_ARG, "is a directory");
    /* A private copy of /dev/full where we may make one (root): a broken writer run as root
     * would rename over the path and replace the machine's device node. */
    struct stat full;
    const char *dev = "/dev/full";
    if (stat(dev, &full) == 0 && mknod(test_path(path, dir, "full"), S_IFCHR | 0666, full.st_rdev) == 0) {
        dev = path;
    }
    CHECK_FAIL(mot_st_write(dev, &one, 1, 0), MOT_ERR_ARG, "full: is a character device");
    CHECK_FAIL(mot_st_write(dev, &one, 1, 1), MOT_ERR_IO, "full: cannot write: No space left on device");
    CHECK(stat(dev, &full) == 0 && S_ISCHR(full.st_mode));
    /* Zero tensors is a valid (metadata-only) file. */
    mot_st_set *set = NULL;
    CHECK_OK(mot_st_write(test_path(path, dir, "none.safetensors"), NULL, 0, 0));
    CHECK_OK(mot_st_open_file(path, &set));
    CHECK(mot_st_count(set) == 0);
    mot_st_close(set);
}

static void test_hand_written(void) {
    char path[1024];
    mot_st_set *set = NULL;
    /* Metadata is skipped; an unpadded header gives unaligned but valid data. */
    test_write_st_raw(test_path(path, dir, "meta.safetensors"),
                      "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},"
                      "\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]},"
                      "\"v\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
                      8);
    CHECK_OK(mot_st_open_file(path, &set));
    if (set) {
        CHECK(mot_st_count(set) == 2);
        CHECK(mot_st_find(set, "__metadata__") == NULL);
        const mot_tensor *w = mot_st_find(set, "w");
        CHECK(w && w->nbytes == 4 && ((const unsigned char *)w->data)[0] == 4);
        mot_st_close(set);
    }
    /* Empty tensors may share an offset with anything. */
    test_write_st_raw(test_path(path, dir, "empties.safetensors"),
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"c\":{\"dtype\":\"F16\",\"shape\":[3,0],\"data_offsets\":[4,4]}}",
                      4);
    CHECK_OK(mot_st_open_file(path, &set));
    mot_st_close(set);
}

/* Writes `header` + data and expects opening it to fail with `want` in the message. */
static void expect_bad(const char *name, const char *header, size_t data_len, const char *want) {
    char path[1024];
    test_write_st_raw(test_path(path, dir, name), header, data_len);
    mot_st_set *set = (mot_st_set *)1;
    mot_status st = mot_st_open_file(path, &set);
    test_check_fail(st, MOT_ERR_FORMAT, want, name, __FILE__, __LINE__);
    CHECK(set == NULL);
    CHECK(strstr(mot_last_error(), name) != NULL); /* names the file */
    CHECK(strchr(mot_last_error(), '\n') == NULL);
}

static void test_bad_headers(void) {
    char path[1024];
    mot_st_set *set = NULL;
    CHECK_FAIL(mot_st_open_file(test_path(path, dir, "missing.safetensors"), &set), MOT_ERR_IO,
               "missing.safetensors: cannot open");
    test_write_bytes(test_path(path, dir, "short.safetensors"), "\x10\0\0", 3);
    CHECK_FAIL(mot_st_open_file(path, &set), MOT_ERR_FORMAT,
               "short.safetensors: file is 3 bytes, too short");
    unsigned char big[16] = {0x00, 0xca, 0x9a, 0x3b, 0, 0, 0, 0, '{', '}'}; /* 1e9 */
    test_write_bytes(test_path(path, dir, "biglen.safetensors"), big, sizeof big);
    CHECK_FAIL(mot_st_open_file(path, &set), MOT_ERR_FORMAT,
               "biglen.safetensors: header length 1000000000 exceeds the file size (16 bytes)");
    unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    test_write_bytes(test_path(path, dir, "hugelen.safetensors"), huge, sizeof huge);
    CHECK_FAIL(mot_st_open_file(path, &set), MOT_ERR_FORMAT, "header length 18446744073709551615");

    expect_bad("notjson.safetensors", "{\"a\": nope}", 0, "header is not valid JSON");
    expect_bad("emptyheader.safetensors", "", 4, "header is not valid JSON");
    expect_bad("array.safetensors", "[1, 2]", 0, "header is not a JSON object");
    expect_bad("dupkey.safetensors",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}",
               8, "duplicate");
    expect_bad("meta.safetensors", "{\"__metadata__\":{\"n\":3}}", 0,
               "__metadata__ entry 'n' is not a string");
    expect_bad("entry.safetensors", "{\"w\": 5}", 0, "tensor 'w': expected an object");
    expect_bad("dtype.safetensors", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}",
               1, "tensor 'w': unknown dtype 'Q4'");
    expect_bad("nodtype.safetensors", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
               "tensor 'w': 'dtype' is missing");
    expect_bad("negshape.safetensors",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", 8,
               "tensor 'w': shape entry 1 is not a non-negative integer");
    expect_bad("realshape.safetensors",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8,
               "tensor 'w': shape entry 0 is not a non-negative integer");
    expect_bad("strshape.safetensors",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8,
               "tensor 'w': 'shape' is missing or not an array");
    expect_bad("ninedims.safetensors",
               "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
               1, "tensor 'w': shape has 9 dimensions (at most 8)");
    expect_bad("offsets1.safetensors", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}",
               1, "tensor 'w': 'data_offsets' must be [begin, end]");
    expect_bad("offsetsneg.safetensors",
               "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1,
               "tensor 'w': 'data_offsets' must be [begin, end]");
    expect_bad("reversed.safetensors",
               "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[3,2]}}", 4,
               "tensor 'w': data_offsets [3, 2] end before they begin");
    expect_bad("truncated.safetensors",
               "{\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[256],\"data_offsets\":[0,1024]}}",
               512,
               "truncated.safetensors: tensor 'model.norm.weight': data_offsets [0, 1024] exceed "
               "the data section (512 bytes); the file is truncated?");
    expect_bad("lying.safetensors",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 16,
               "tensor 'w': data_offsets [0, 16] hold 16 bytes but F32 [2, 3] needs 24");
    expect_bad("overflow.safetensors",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4611686018427387904],"
               "\"data_offsets\":[0,16]}}",
               16, "needs more than 2^64 bytes (the shape is corrupt)");
    expect_bad("overlap.safetensors",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
               24, "tensors 'a' [0, 16] and 'b' [8, 24] overlap");
    /* A range inside another one. */
    expect_bad("overlap2.safetensors",
               "{\"big\":{\"dtype\":\"U8\",\"shape\":[32],\"data_offsets\":[0,32]},"
               "\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},"
               "\"y\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[16,20]}}",
               32, "tensors 'big' [0, 32] and 'x' [4, 8] overlap");
}

static void test_expect(void) {
    char path[1024];
    test_path(path, dir, "expect.safetensors");
    float w[6] = {0};
    int32_t ids[2] = {1, 2};
    mot_st_entry e[2] = {
        {.name = "w", .dtype = MOT_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = w},
        {.name = "ids", .dtype = MOT_DTYPE_I32, .ndim = 1, .shape = {2}, .data = ids},
    };
    CHECK_OK(mot_st_write(path, e, 2, 0));
    mot_st_set *set = NULL;
    CHECK_OK(mot_st_open_file(path, &set));
    if (!set) {
        return;
    }
    const mot_tensor *t = NULL;
    CHECK_OK(mot_st_expect(set, "w", 2, (const int64_t[]){2, 3}, &t));
    CHECK(t == mot_st_find(set, "w"));
    char want[1200];
    snprintf(want, sizeof want, "%s: tensor 'nope': missing", path);
    CHECK_FAIL(mot_st_expect(set, "nope", 1, (const int64_t[]){2}, &t), MOT_ERR_SHAPE, want);
    CHECK(t == NULL);
    snprintf(want, sizeof want, "%s: tensor 'w': expected [3, 2], found [2, 3]", path);
    CHECK_FAIL(mot_st_expect(set, "w", 2, (const int64_t[]){3, 2}, &t), MOT_ERR_SHAPE, want);
    CHECK_FAIL(mot_st_expect(set, "w", 1, (const int64_t[]){6}, &t), MOT_ERR_SHAPE,
               "tensor 'w': expected [6], found [2, 3]");
    snprintf(want, sizeof want,
             "%s: tensor 'ids': dtype I32 is not supported (expected F32, F16 or BF16)", path);
    CHECK_FAIL(mot_st_expect(set, "ids", 1, (const int64_t[]){2}, &t), MOT_ERR_SHAPE, want);
    mot_st_close(set);
}

int main(void) {
    dir = test_mkdtemp();
    test_round_trip();
    test_write_errors();
    test_hand_written();
    test_bad_headers();
    test_expect();
    test_remove_tree(dir);
    return test_finish("test_safetensors_file");
}
