/* Random damage to a valid safetensors file (truncation, flipped bytes, a wrong length, JSON
 * punctuation dropped into the header): opening must fail with a one-line message naming the
 * file, or succeed with tensors that lie wholly inside the file. Never crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"
#include "tests/loading/test_support.h"

#define N_MUTATIONS 600

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void) { /* xorshift64*: a fixed seed, so failures reproduce */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*n);
    if (fread(buf, 1, *n, f) != *n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Damages buf (of n bytes, header of hlen bytes) in place; returns the new size. */
static size_t mutate(unsigned char *buf, size_t n, size_t hlen) {
    static const char punct[] = "\"{}[],:0123456789-. eE";
    size_t h_end = 8 + hlen;
    switch (rng() % 5) {
    case 0: /* truncate anywhere */
        return rng() % n;
    case 1: /* flip a few bytes of the length prefix or the header */
        for (int k = 1 + rng() % 3; k > 0; k--) {
            buf[rng() % h_end] ^= (unsigned char)(1u << (rng() % 8));
        }
        return n;
    case 2: { /* a plausible but wrong header length */
        uint64_t len = hlen + (uint64_t)((int)(rng() % 33) - 16);
        if (rng() % 4 == 0) {
            len = ((uint64_t)rng() << 32) | rng();
        }
        for (int i = 0; i < 8; i++) {
            buf[i] = (unsigned char)(len >> (8 * i));
        }
        return n;
    }
    case 3: /* JSON punctuation or digits into the header */
        for (int k = 1 + rng() % 4; k > 0; k--) {
            buf[8 + rng() % hlen] = (unsigned char)punct[rng() % (sizeof punct - 1)];
        }
        return n;
    default: /* a digit changed: offsets and shapes that lie */
        for (size_t tries = 0; tries < 64; tries++) {
            size_t i = 8 + rng() % hlen;
            if (buf[i] >= '0' && buf[i] <= '9') {
                buf[i] = (unsigned char)('0' + rng() % 10);
                break;
            }
        }
        return n;
    }
}

/* Reads every byte of every tensor; a view past the mapping would fault here. */
static int tensors_consistent(const mot_st_set *set, size_t file_size) {
    size_t total = 0;
    for (int i = 0; i < mot_st_count(set); i++) {
        const mot_tensor *t = mot_st_at(set, i);
        size_t want = mot_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++) {
            want *= (size_t)t->shape[d];
        }
        if (want != t->nbytes) {
            return 0;
        }
        volatile unsigned char sink = 0;
        for (size_t b = 0; b < t->nbytes; b++) {
            sink ^= ((const unsigned char *)t->data)[b];
        }
        (void)sink;
        total += t->nbytes;
    }
    return total <= file_size;
}

/* Optional arguments: the number of mutations and a seed, for longer runs by hand. */
int main(int argc, char **argv) {
    int n_mutations = argc > 1 ? atoi(argv[1]) : N_MUTATIONS;
    if (argc > 2) {
        rng_state = strtoull(argv[2], NULL, 0) | 1;
    }
    const char *dir = test_mkdtemp();
    char good[1024], bad[1024];
    test_path(good, dir, "good.safetensors");
    test_path(bad, dir, "bad.safetensors");
    float w[24];
    for (int i = 0; i < 24; i++) {
        w[i] = (float)i;
    }
    mot_st_entry e[4] = {
        {.name = "model.embed_tokens.weight", .dtype = MOT_DTYPE_F32, .ndim = 2, .shape = {4, 3}, .data = w},
        {.name = "model.norm.weight", .dtype = MOT_DTYPE_BF16, .ndim = 1, .shape = {6}, .data = w},
        {.name = "s", .dtype = MOT_DTYPE_F16, .ndim = 0, .data = w},
        {.name = "lm_head.weight", .dtype = MOT_DTYPE_F32, .ndim = 3, .shape = {2, 2, 2}, .data = w},
    };
    CHECK_OK(mot_st_write(good, e, 4, 0));
    size_t n;
    unsigned char *orig = read_all(good, &n);
    CHECK(orig != NULL);
    if (!orig) {
        return test_finish("test_safetensors_fuzz");
    }
    size_t hlen = 0;
    for (int i = 7; i >= 0; i--) {
        hlen = (hlen << 8) | orig[i];
    }
    unsigned char *buf = malloc(n);
    int n_ok = 0, n_err = 0;
    for (int it = 0; it < n_mutations; it++) {
        memcpy(buf, orig, n);
        size_t m = mutate(buf, n, hlen);
        test_write_bytes(bad, buf, m);
        mot_st_set *set = NULL;
        mot_status st = mot_st_open_file(bad, &set);
        if (st == MOT_OK) {
            n_ok++;
            CHECK(set != NULL && tensors_consistent(set, m));
            mot_st_close(set);
        } else {
            n_err++;
            CHECK(set == NULL);
            CHECK(st == MOT_ERR_FORMAT);
            CHECK(strstr(mot_last_error(), bad) == mot_last_error()); /* starts with the file */
            CHECK(strchr(mot_last_error(), '\n') == NULL);
        }
    }
    printf("test_safetensors_fuzz: %d mutations: %d opened, %d rejected\n", n_mutations, n_ok,
           n_err);
    CHECK(n_err > n_mutations / 2); /* most damage must be caught */
    free(buf);
    free(orig);
    test_remove_tree(dir);
    return test_finish("test_safetensors_fuzz");
}
