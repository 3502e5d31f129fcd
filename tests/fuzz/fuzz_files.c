/* Scratch files for the fuzz targets (fuzz_files.h). */
#include "tests/fuzz/fuzz_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static char path[512];
/* Names ever written, for the exit clean-up (a target writes a handful of fixed names). */
static char *written[32];
static int n_written;

static void clean_up(void) {
    for (int i = 0; i < n_written; i++) {
        unlink(fuzz_path(written[i]));
        free(written[i]);
    }
    rmdir(dir);
}

const char *fuzz_dir(const char *target) {
    if (!dir[0]) {
        /* Memory-backed when there is one: on a disk file system, rewriting a file per input
         * (ext4 flushes a truncated file on close) took most of a run's time. */
        struct stat shm;
        const char *base = stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/mot-fuzz-%s-%d", base, target, (int)getpid());
        if (mkdir(dir, 0700) != 0) {
            perror(dir);
            abort();
        }
        atexit(clean_up);
    }
    return dir;
}

const char *fuzz_path(const char *name) {
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static void remember(const char *name) {
    for (int i = 0; i < n_written; i++) {
        if (!strcmp(written[i], name)) {
            return;
        }
    }
    if (n_written < (int)(sizeof written / sizeof *written)) {
        written[n_written++] = strdup(name);
    }
}

int fuzz_write(const char *name, const void *data, size_t size) {
    remember(name);
    FILE *f = fopen(fuzz_path(name), "wb");
    if (!f) {
        return -1;
    }
    size_t n = size ? fwrite(data, 1, size, f) : 0;
    return (fclose(f) == 0 && n == size) ? 0 : -1;
}

void fuzz_remove(const char *name) { unlink(fuzz_path(name)); }

int fuzz_split(const uint8_t *data, size_t size, const char *sep, size_t sep_len, fuzz_part *parts,
               int max) {
    int n = 0;
    while (n < max - 1) {
        const uint8_t *at = memmem(data, size, sep, sep_len);
        if (!at) {
            break;
        }
        parts[n++] = (fuzz_part){data, (size_t)(at - data)};
        size -= (size_t)(at - data) + sep_len;
        data = at + sep_len;
    }
    parts[n++] = (fuzz_part){data, size};
    return n;
}

char *fuzz_cstr(fuzz_part p) {
    char *s = malloc(p.size + 1);
    if (!s) {
        abort();
    }
    if (p.size) {
        memcpy(s, p.data, p.size);
    }
    s[p.size] = '\0';
    return s;
}
