/* What the fuzz targets share: the parsers take paths (mot_read_file, mmap), so each input is
 * written into a scratch folder /dev/shm/mot-fuzz-TARGET-PID (/tmp without /dev/shm; one per
 * process, so parallel runs and jobs do not clash), and split into parts where one input
 * stands for several files (a tokenizer.json and the text to encode; an index and its shards). */
#ifndef MOT_TESTS_FUZZ_FUZZ_FILES_H
#define MOT_TESTS_FUZZ_FUZZ_FILES_H

#include <stddef.h>
#include <stdint.h>

/* The scratch folder, made on first use; removed (with the files written) at exit. */
const char *fuzz_dir(const char *target);

/* dir/name into a static buffer (valid until the next call). */
const char *fuzz_path(const char *name);

/* Writes dir/name (replacing it); 0 on success. The name is remembered for the exit clean-up. */
int fuzz_write(const char *name, const void *data, size_t size);

/* Removes dir/name when it exists. */
void fuzz_remove(const char *name);

typedef struct {
    const uint8_t *data;
    size_t size;
} fuzz_part;

/* Splits data at each occurrence of sep (sep_len bytes) into at most max parts (the last one
 * keeps the rest, separators included). Returns the number of parts (>= 1). */
int fuzz_split(const uint8_t *data, size_t size, const char *sep, size_t sep_len, fuzz_part *parts,
               int max);

/* A heap NUL-terminated copy of a part (abort on out of memory: not what is being tested). */
char *fuzz_cstr(fuzz_part p);

#endif
