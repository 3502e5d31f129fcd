#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw, mkdtemp */
#endif
#include "tests/loading/test_support.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int test_failures;

void test_check(int ok, const char *what, const char *file, int line) {
    if (!ok) {
        fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
        test_failures++;
    }
}

void test_check_ok(mot_status st, const char *what, const char *file, int line) {
    if (st != MOT_OK) {
        fprintf(stderr, "%s:%d: %s failed (%s): %s\n", file, line, what, mot_status_name(st),
                mot_last_error());
        test_failures++;
    }
}

void test_check_fail(mot_status st, mot_status want, const char *substr, const char *what,
                     const char *file, int line) {
    if (st == MOT_OK) {
        fprintf(stderr, "%s:%d: %s succeeded; expected an error containing \"%s\"\n", file, line,
                what, substr);
        test_failures++;
    } else if (st != want || !strstr(mot_last_error(), substr)) {
        fprintf(stderr, "%s:%d: %s: got %s \"%s\"; expected %s containing \"%s\"\n", file, line,
                what, mot_status_name(st), mot_last_error(), mot_status_name(want), substr);
        test_failures++;
    }
}

int test_finish(const char *name) {
    if (test_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

const char *test_mkdtemp(void) {
    static char dirs[8][64];
    static int next;
    char *d = dirs[next++ % 8];
    snprintf(d, 64, "/tmp/mot-loading-XXXXXX");
    if (!mkdtemp(d)) {
        perror("mkdtemp");
        exit(2);
    }
    return d;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(path);
}

void test_remove_tree(const char *dir) { nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

char *test_path(char *buf, const char *dir, const char *name) {
    snprintf(buf, 1024, "%s/%s", dir, name);
    return buf;
}

char *test_subdir(char *buf, const char *dir, const char *name) {
    test_path(buf, dir, name);
    if (mkdir(buf, 0755) != 0) {
        perror(buf);
        exit(2);
    }
    return buf;
}

void test_write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

void test_write_text(const char *path, const char *text) { test_write_bytes(path, text, strlen(text)); }

void test_write_st_raw(const char *path, const char *header, size_t data_len) {
    size_t hlen = strlen(header);
    unsigned char *buf = malloc(8 + hlen + data_len);
    for (int i = 0; i < 8; i++) {
        buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    }
    memcpy(buf + 8, header, hlen);
    for (size_t i = 0; i < data_len; i++) {
        buf[8 + hlen + i] = (unsigned char)i;
    }
    test_write_bytes(path, buf, 8 + hlen + data_len);
    free(buf);
}
