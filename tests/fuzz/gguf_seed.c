/* Writes the fuzzer's seed corpus for the GGUF reader: the loading tests' small valid file
 * (tests/loading/gguf_builder.c) and a few of its one-field variants. */
#include <stdio.h>
#include <stdlib.h>

#include "tests/loading/gguf_builder.h"

static void write_one(const char *dir, const char *name, const gguf_faults *f) {
    gguf_buf b = {0};
    gb_small(&b, f);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fh = fopen(path, "wb");
    if (fh) {
        fwrite(b.data, 1, b.len, fh);
        fclose(fh);
    }
    free(b.data);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    write_one(argv[1], "small.gguf", &(gguf_faults){0});
    write_one(argv[1], "dup_key.gguf", &(gguf_faults){.dup_key = 1});
    write_one(argv[1], "f32.gguf", &(gguf_faults){.t1_f32 = 1});
    write_one(argv[1], "q6k.gguf", &(gguf_faults){.t1_type = 14, .t1_ne0 = 256});
    return 0;
}
