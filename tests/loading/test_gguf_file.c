/* The GGUF reader on a small valid file (shapes in PyTorch order, typed metadata getters,
 * metadata-only opens) and on one malformation at a time, each with its message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "tests/loading/gguf_builder.h"
#include "tests/loading/test_support.h"

static const char *dir;
static char path[1024];

static mot_status open_with(const gguf_faults *f, mot_gguf **g) {
    gguf_buf b = {0};
    gb_small(&b, f);
    test_write_bytes(path, b.data, b.len);
    free(b.data);
    return mot_gguf_open(path, g);
}

static void check_valid(void) {
    mot_gguf *g = NULL;
    CHECK_OK(open_with(&(gguf_faults){0}, &g));
    if (!g) {
        return;
    }
    CHECK(mot_gguf_tensor_count(g) == 3);
    const mot_tensor *a = mot_gguf_find(g, "a"), *b = mot_gguf_find(g, "b"), *c = mot_gguf_find(g, "c");
    CHECK(a && a->dtype == MOT_DTYPE_F32 && a->ndim == 2 && a->shape[0] == 4 && a->shape[1] == 8 && a->nbytes == 128);
    CHECK(b && b->dtype == MOT_DTYPE_Q8_0 && b->shape[0] == 2 && b->shape[1] == 64 && b->nbytes == 136);
    CHECK(c && c->dtype == MOT_DTYPE_Q4_K && c->ndim == 1 && c->nbytes == 144);
    CHECK(a && b && (const char *)b->data - (const char *)a->data == 128);
    CHECK(a && ((const unsigned char *)a->data)[5] == 5);
    CHECK(mot_gguf_find(g, "zz") == NULL);
    int64_t v = 0;
    CHECK_OK(mot_gguf_get_int(g, "llama.block_count", &v));
    CHECK(v == 2);
    const char *s = NULL;
    CHECK_OK(mot_gguf_get_str(g, "general.architecture", &s));
    CHECK(s && strcmp(s, "llama") == 0);
    char *const *toks = NULL;
    int64_t n = 0;
    CHECK_OK(mot_gguf_get_str_array(g, "tokenizer.ggml.tokens", &toks, &n));
    CHECK(n == 3 && toks && strcmp(toks[2], "ab") == 0);
    const float *sc = NULL;
    CHECK_OK(mot_gguf_get_f32_array(g, "tokenizer.ggml.scores", &sc, &n));
    CHECK(n == 3 && sc && sc[2] == -0.5f);
    CHECK_FAIL(mot_gguf_get_int(g, "general.architecture", &v), MOT_ERR_FORMAT,
               "key 'general.architecture': expected an integer, found string");
    CHECK_FAIL(mot_gguf_get_int(g, "llama.context_length", &v), MOT_ERR_FORMAT, "key 'llama.context_length': missing");
    CHECK_FAIL(mot_gguf_get_str_array(g, "tokenizer.ggml.scores", &toks, &n), MOT_ERR_FORMAT,
               "expected an array of strings, found an array of f32");
    v = 7;
    CHECK_OK(mot_gguf_opt_int(g, "absent", &v));
    CHECK(v == 7);
    CHECK(mot_gguf_data_mut(g, a->data) == a->data);
    mot_gguf_close(g);
    CHECK_OK(mot_gguf_open_meta(path, &g));
    if (g) {
        CHECK(mot_gguf_find(g, "b") && mot_gguf_find(g, "b")->data == NULL);
        CHECK(mot_gguf_data_mut(g, mot_gguf_find(g, "b")->data) == NULL);
        mot_gguf_close(g);
    }
    CHECK(mot_gguf_is_gguf_path(path));
    CHECK(mot_gguf_type_of_dtype(MOT_DTYPE_Q6_K) == 14 && mot_gguf_dtype_of_type(30) == MOT_DTYPE_BF16);
    CHECK(mot_gguf_dtype_of_type(6) == MOT_DTYPE_Q5_0 && mot_gguf_dtype_of_type(23) == MOT_DTYPE_IQ4_XS);
    CHECK(mot_gguf_dtype_of_type(16) == -1 && mot_gguf_dtype_of_type(1000) == -1);
}

static void check_fault(const gguf_faults *f, mot_status want, const char *substr, int line) {
    mot_gguf *g = NULL;
    mot_status st = open_with(f, &g);
    char what[64];
    snprintf(what, sizeof what, "fault at line %d", line);
    test_check_fail(st, want, substr, what, __FILE__, line);
    test_check_fail(st, want, path, what, __FILE__, line); /* names the file */
    test_check(g == NULL, "no handle on failure", __FILE__, line);
    mot_gguf_close(g);
}
#define FAULT(want, substr, ...) check_fault(&(gguf_faults){__VA_ARGS__}, (want), (substr), __LINE__)

int main(void) {
    dir = test_mkdtemp();
    test_path(path, dir, "m.gguf");
    check_valid();
    FAULT(MOT_ERR_FORMAT, "not a GGUF file", .magic = "GGML");
    FAULT(MOT_ERR_FORMAT, "GGUF version 1 is not supported", .version = 1);
    FAULT(MOT_ERR_FORMAT, "truncated", .truncate_to = 10);
    FAULT(MOT_ERR_FORMAT, "truncated", .truncate_to = 100);
    FAULT(MOT_ERR_FORMAT, "runs past the end of the file", .truncate_to = 600);
    FAULT(MOT_ERR_FORMAT, "tensors cannot fit in the file", .n_tensors_delta = (uint64_t)1 << 40);
    FAULT(MOT_ERR_FORMAT, "key 'general.architecture': unknown value type 13", .kv_type = 13);
    FAULT(MOT_ERR_FORMAT, "key 'general.architecture': appears twice", .dup_key = 1);
    FAULT(MOT_ERR_FORMAT, "key 'nested': arrays of arrays are not supported", .nested_array = 1);
    FAULT(MOT_ERR_FORMAT, "tensor 'b': unknown ggml type 200", .t1_type = 200);
    FAULT(MOT_ERR_UNSUPPORTED, "tensor 'b': type IQ2_XXS is not supported", .t1_type = 16);
    FAULT(MOT_ERR_FORMAT, "tensor 'b': 5 dimensions", .t1_dims = 5);
    FAULT(MOT_ERR_FORMAT, "tensor 'b': 48 elements per row is not a multiple of Q8_0's block of 32", .t1_ne0 = 48);
    FAULT(MOT_ERR_FORMAT, "tensor 'b': dimension 1 is 0 (empty)", .t1_zero_dim = 1);
    FAULT(MOT_ERR_FORMAT, "too large", .t1_ne0 = (uint64_t)1 << 62);
    /* an F32 row of 2^62 elements is 2^64 bytes: a wrapped row size once let it pass */
    FAULT(MOT_ERR_FORMAT, "tensor 'b': too large", .t1_f32 = 1, .t1_dims = 1, .t1_ne0 = (uint64_t)1 << 62);
    FAULT(MOT_ERR_FORMAT, "tensor 'b': too large", .t1_f32 = 1, .t1_dims = 1, .t1_ne0 = ((uint64_t)1 << 62) + 32);
    FAULT(MOT_ERR_FORMAT, "tensor 'b': data offset 136 is not a multiple of the alignment 32", .t1_offset_delta = 8);
    FAULT(MOT_ERR_FORMAT, "tensor 'b': its data (136 bytes at offset 4224)", .t1_offset_delta = 4096);
    FAULT(MOT_ERR_FORMAT, "tensors 'b' and 'c': their data overlap", .t1_offset_delta = 32);
    FAULT(MOT_ERR_FORMAT, "tensor 'a': appears twice", .dup_name = 1);
    test_remove_tree(dir);
    return test_finish("test_gguf_file");
}
