/* Read-only memory mapping of a whole file (weights stay in the page cache, not the heap). */
#ifndef MOT_COMMON_MAPPED_FILE_H
#define MOT_COMMON_MAPPED_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "mot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const unsigned char *data; /* NULL for an empty file */
    size_t size;
    size_t reserved;           /* bytes of the mapping behind data (>= size) */
} mot_mapped_file;

/* How weight files come into memory:
 * - MOT_LOAD_COPY: read into anonymous memory backed by transparent huge pages. Decode
 *   streams every weight once per token; 2 MiB pages spare the TLB misses of 4 KiB ones.
 *   Measured (TinyLlama-1.1B f32, tg32 at 2 threads, 4 interleaved runs each, a noisy VM):
 *   6.11 t/s mapped, 6.49 copied (+6%); SmolLM-135M f32: 42.4 either way. `--no-mmap`.
 * - MOT_LOAD_MAP: map the file read-only (instant start, shared page cache). `--mmap`.
 * - MOT_LOAD_AUTO (default): copy files of 16 MiB and more, map smaller ones. */
typedef enum { MOT_LOAD_AUTO = 0, MOT_LOAD_COPY, MOT_LOAD_MAP } mot_load_mode;
void mot_set_load_mode(mot_load_mode mode);

/* One load of several files (a sharded checkpoint): the files copied until mot_load_end count
 * into one progress line (common/progress.h) of total_bytes, "loaded WHAT". Without a load
 * in progress each copied file reports on its own. */
void mot_load_begin(const char *what, uint64_t total_bytes);
void mot_load_end(void);

/* Errors: "<path>: cannot open: <strerror>" and the like. */
mot_status mot_map_file(const char *path, mot_mapped_file *out);
void mot_unmap_file(mot_mapped_file *mf);
/* As mot_map_file, but the memory may be written by this process (a copy, or a private
 * copy-on-write mapping: only the pages written stop being shared with the page cache):
 * for the few rows a loader rearranges in place (GGUF's Q/K rows). lazy: always a mapping,
 * whatever the load mode (for reading metadata without reading the weights). */
mot_status mot_map_file_writable(const char *path, int lazy, mot_mapped_file *out);

/* memcpy of large buffers on up to 8 threads (at least 4 MiB each; not from inside a parallel
 * region): one core copies ~5-10 GB/s, short of what pinned staging buffers and PCIe move.
 * The CUDA backend stages weight uploads through it (kernels/cuda/gpu_api_cuda.cu); it lives
 * here, beside the loader that mot always links, so that libmot-cuda.so finds it in mot. */
void mot_parallel_memcpy(void *dst, const void *src, size_t bytes);

/* Reads a whole (small) file into a NUL-terminated heap buffer: JSON, YAML, prompts,
 * templates. Only a regular file (a FIFO or device is refused, and opening never blocks)
 * of at most MOT_MAX_TEXT_FILE_BYTES: "<path>: not a regular file", "<path>: 300 MiB is more
 * than the 256 MiB a text file may have". */
#define MOT_MAX_TEXT_FILE_BYTES ((size_t)256 << 20)
mot_status mot_read_file(const char *path, char **out, size_t *size);
/* The same with a smaller cap for one kind of file; `what` names it in the message ("YAML
 * file": "<path>: 2000000 bytes is more than the 1048576 bytes a YAML file may have"). */
mot_status mot_read_file_max(const char *path, size_t max, const char *what, char **out, size_t *size);
/* A text file (a prompt, a perplexity corpus) as a C string: a NUL byte in it is an error
 * ("<path>: the <what> holds a NUL byte (at offset N)"), as it would silently cut the text. */
mot_status mot_read_text_file_max(const char *path, size_t max, const char *what, char **text);
int mot_file_exists(const char *path);

/* dir + "/" + name into a heap string. */
char *mot_path_join(const char *dir, const char *name);

#ifdef __cplusplus
}
#endif

#endif
