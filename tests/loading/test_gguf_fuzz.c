/* Random damage to a valid GGUF file (truncation, flipped bits, counts and lengths replaced
 * by plausible or huge values, type numbers changed): opening must fail with a one-line
 * message naming the file, or succeed with tensors that lie wholly inside the file and
 * metadata that reads back. Never crash, hang or allocate without bound. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "tests/loading/gguf_builder.h"
#include "tests/loading/test_support.h"

#define N_MUTATIONS 3000

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t rng(void) { /* xorshift64*: a fixed seed, so failures reproduce */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

/* Damages buf (n bytes, the header and infos in the first hdr bytes) in place; returns the
 * new size. */
static size_t mutate(unsigned char *buf, size_t n, size_t hdr) {
    switch (rng() % 5) {
    case 0: /* truncate anywhere */
        return rng() % n;
    case 1: /* flip a few bits of the header and infos */
        for (int k = 1 + rng() % 3; k > 0; k--) {
            buf[rng() % hdr] ^= (unsigned char)(1u << (rng() % 8));
        }
        return n;
    case 2: { /* a u64 (a count, length, dimension or offset) replaced */
        static const uint64_t values[] = {0, 1, 2, 31, 32, 33, 255, 256, 4096, 1ull << 31, 1ull << 32,
                                          1ull << 62, UINT64_MAX, UINT64_MAX - 7};
        size_t at = rng() % (hdr - 8);
        uint64_t v = values[rng() % (sizeof values / sizeof values[0])];
        memcpy(buf + at, &v, 8);
        return n;
    }
    case 3: { /* a u32 (a type or n_dims) replaced */
        uint32_t v = rng() % 4 ? rng() % 40 : rng();
        memcpy(buf + rng() % (hdr - 4), &v, 4);
        return n;
    }
    default: /* bytes of the data changed: must never matter to the reader */
        for (int k = 1 + rng() % 8; k > 0; k--) {
            buf[hdr + rng() % (n - hdr)] = (unsigned char)rng();
        }
        return n;
    }
}

/* Reads every byte of every tensor and every metadata value a loader reads. */
static int consistent(mot_gguf *g, size_t file_size) {
    size_t total = 0;
    for (int i = 0; i < mot_gguf_tensor_count(g); i++) {
        const mot_tensor *t = mot_gguf_tensor_at(g, i);
        size_t rows = 1;
        for (int d = 0; d + 1 < t->ndim; d++) {
            rows *= (size_t)t->shape[d];
        }
        if (rows * mot_dtype_row_bytes(t->dtype, t->shape[t->ndim - 1]) != t->nbytes ||
            mot_gguf_find(g, t->name) != t) {
            return 0;
        }
        volatile unsigned char sink = 0;
        for (size_t b = 0; b < t->nbytes; b++) {
            sink ^= ((const unsigned char *)t->data)[b];
        }
        (void)sink;
        total += t->nbytes;
    }
    char *const *strs;
    const float *f;
    int64_t n, v;
    const char *s;
    (void)mot_gguf_get_str_array(g, "tokenizer.ggml.tokens", &strs, &n);
    (void)mot_gguf_get_f32_array(g, "tokenizer.ggml.scores", &f, &n);
    (void)mot_gguf_get_int(g, "llama.block_count", &v);
    (void)mot_gguf_get_str(g, "general.architecture", &s);
    return total <= file_size;
}

/* Optional arguments: the number of mutations and a seed, for longer runs by hand. */
int main(int argc, char **argv) {
    int n_mutations = argc > 1 ? atoi(argv[1]) : N_MUTATIONS;
    if (argc > 2) {
        rng_state = strtoull(argv[2], NULL, 0) | 1;
    }
    const char *dir = test_mkdtemp();
    char bad[1024];
    test_path(bad, dir, "bad.gguf");
    gguf_buf orig = {0};
    gb_small(&orig, &(gguf_faults){0});
    const size_t n = orig.len, hdr = n - 432; /* the builder's data is its last 432 bytes */
    unsigned char *buf = malloc(n);
    int n_ok = 0, n_err = 0;
    for (int it = 0; it < n_mutations; it++) {
        memcpy(buf, orig.data, n);
        size_t m = mutate(buf, n, hdr);
        test_write_bytes(bad, buf, m);
        mot_gguf *g = NULL;
        mot_status st = mot_gguf_open(bad, &g);
        if (st == MOT_OK) {
            n_ok++;
            if (!consistent(g, m)) {
                fprintf(stderr, "mutation %d: opened, but the tensors are inconsistent\n", it);
                CHECK(0);
            }
        } else {
            n_err++;
            const char *msg = mot_last_error();
            if (!strstr(msg, bad) || strchr(msg, '\n')) {
                fprintf(stderr, "mutation %d: message does not name the file in one line: %s\n", it, msg);
                CHECK(0);
            }
        }
        mot_gguf_close(g);
    }
    printf("%d mutations: %d opened consistently, %d refused\n", n_mutations, n_ok, n_err);
    CHECK(n_ok > 0 && n_err > n_mutations / 4);
    free(buf);
    free(orig.data);
    test_remove_tree(dir);
    return test_finish("test_gguf_fuzz");
}
