#include "common/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/error.h"
#include "common/progress.h"

/* The fuzz builds compile the loaders without OpenMP: then every loop below runs on one thread. */
static int n_procs(void) {
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}
static int team_rank(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}
static int team_size(void) {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

static mot_load_mode load_mode = MOT_LOAD_AUTO;

void mot_set_load_mode(mot_load_mode mode) { load_mode = mode; }

/* The load in progress (mot_load_begin): every copied file counts into it. */
static mot_progress load_progress;
static int load_session;
static uint64_t load_done;

void mot_load_begin(const char *what, uint64_t total_bytes) {
    mot_progress_begin(&load_progress, "loaded", what, total_bytes);
    load_session = 1;
    load_done = 0;
}

void mot_load_end(void) {
    if (load_session) {
        mot_progress_end(&load_progress);
    }
    load_session = 0;
}

/* Reads size bytes of fd into p: READ_CHUNK pieces, shared out to up to READ_THREADS threads
 * (parallel reads keep a fast NVMe's queue full and copy out of the page cache on several
 * cores; one thread's pread tops out at a few GB/s). Thread 0 reports progress.
 * -> 0, or the errno of the first failure (-1: the file shrank) and its offset in *bad. */
#define READ_CHUNK ((size_t)32 << 20)
#define READ_THREADS 8
static int read_parallel(int fd, char *p, size_t size, mot_progress *progress, uint64_t base, size_t *bad) {
    const long n_chunks = (long)((size + READ_CHUNK - 1) / READ_CHUNK);
    int threads = n_procs();
    threads = threads > READ_THREADS ? READ_THREADS : threads;
    threads = n_chunks < threads ? (int)n_chunks : threads;
    int error = 0;
    uint64_t done = 0;
#pragma omp parallel num_threads(threads > 0 ? threads : 1)
    {
#pragma omp for schedule(dynamic, 1)
        for (long k = 0; k < n_chunks; k++) {
            int failed;
#pragma omp atomic read
            failed = error;
            if (failed) {
                continue;
            }
            size_t off = (size_t)k * READ_CHUNK, end = off + READ_CHUNK < size ? off + READ_CHUNK : size;
            while (off < end) {
                ssize_t r = pread(fd, p + off, end - off, (off_t)off);
                if (r < 0 && errno == EINTR) {
                    continue;
                }
                if (r <= 0) {
                    const int e = r < 0 ? errno : -1;
#pragma omp critical(mot_read_error)
                    if (!error) {
                        error = e;
                        *bad = off;
                    }
                    break;
                }
                off += (size_t)r;
            }
            uint64_t now;
#pragma omp atomic capture
            now = done += (uint64_t)(end - (size_t)k * READ_CHUNK);
            if (progress && team_rank() == 0) {
                mot_progress_update(progress, base + now);
            }
        }
    }
    return error;
}

#define COPY_MAX_THREADS 8
#define COPY_MIN_PER_THREAD ((size_t)4 << 20)

void mot_parallel_memcpy(void *dst, const void *src, size_t bytes) {
    int threads = (int)(bytes / COPY_MIN_PER_THREAD);
    const int procs = n_procs();
    threads = threads > COPY_MAX_THREADS ? COPY_MAX_THREADS : threads;
    threads = threads > procs ? procs : threads;
    if (threads <= 1) {
        memcpy(dst, src, bytes);
        return;
    }
#pragma omp parallel num_threads(threads)
    { /* split by the team there is: the runtime may give fewer threads than asked
       * (OMP_DYNAMIC, a thread limit, a nested region), and a piece no thread took would
       * reach the GPU as stale staging memory */
        const size_t team = (size_t)team_size();
        const size_t per = ((bytes + team - 1) / team + 63) & ~(size_t)63;
        const size_t off = (size_t)team_rank() * per;
        if (off < bytes) {
            memcpy((char *)dst + off, (const char *)src + off, bytes - off < per ? bytes - off : per);
        }
    }
}

/* The whole file into huge-page-backed anonymous memory. */
static mot_status copy_file(int fd, const char *path, size_t size, int writable, mot_mapped_file *out) {
    const size_t huge = (size_t)2 << 20, reserved = (size + huge - 1) & ~(huge - 1);
    void *p = mmap(NULL, reserved, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return mot_fail(MOT_ERR_NOMEM, "%s: cannot allocate %zu MiB for the weights (try --mmap): %s", path,
                        size >> 20, strerror(errno));
    }
    madvise(p, reserved, MADV_HUGEPAGE); /* a hint: without THP this is plain memory */
    mot_progress own;
    mot_progress *progress = load_session ? &load_progress : &own;
    if (!load_session) {
        mot_progress_begin(&own, "loaded", path, size);
    }
    size_t bad = 0;
    const int e = read_parallel(fd, p, size, progress, load_session ? load_done : 0, &bad);
    if (load_session) {
        load_done += size;
        mot_progress_update(progress, load_done);
    } else {
        mot_progress_end(&own);
    }
    if (e) {
        munmap(p, reserved);
        return mot_fail(MOT_ERR_IO, "%s: read error at byte %zu of %zu%s%s", path, bad, size,
                        e > 0 ? ": " : " (the file shrank while loading)", e > 0 ? strerror(e) : "");
    }
    if (!writable) {
        mprotect(p, reserved, PROT_READ); /* the weights are never written */
    }
    out->data = p;
    out->size = size;
    out->reserved = reserved;
    return MOT_OK;
}

static mot_status map_file(const char *path, int writable, int lazy, mot_mapped_file *out) {
    out->data = NULL;
    out->size = 0;
    out->reserved = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK); /* a FIFO must not block the open */
    if (fd < 0) {
        return mot_fail(MOT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mot_fail(MOT_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mot_fail(MOT_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size > 0 && !lazy &&
        (load_mode == MOT_LOAD_COPY || (load_mode == MOT_LOAD_AUTO && st.st_size >= ((off_t)16 << 20)))) {
        mot_status status = copy_file(fd, path, (size_t)st.st_size, writable, out);
        close(fd);
        return status;
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return mot_fail(MOT_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
        out->data = p;
        out->size = (size_t)st.st_size;
        out->reserved = out->size;
    }
    close(fd);
    return MOT_OK;
}

mot_status mot_map_file(const char *path, mot_mapped_file *out) { return map_file(path, 0, 0, out); }

mot_status mot_map_file_writable(const char *path, int lazy, mot_mapped_file *out) {
    return map_file(path, 1, lazy, out);
}

void mot_unmap_file(mot_mapped_file *mf) {
    if (mf->data) {
        munmap((void *)mf->data, mf->reserved);
    }
    mf->data = NULL;
    mf->size = 0;
    mf->reserved = 0;
}

mot_status mot_read_file(const char *path, char **out, size_t *size) {
    return mot_read_file_max(path, MOT_MAX_TEXT_FILE_BYTES, "text file", out, size);
}

mot_status mot_read_text_file_max(const char *path, size_t max, const char *what, char **text) {
    size_t size = 0;
    MOT_TRY(mot_read_file_max(path, max, what, text, &size));
    const size_t nul = strlen(*text);
    if (nul != size) {
        free(*text);
        *text = NULL;
        return mot_fail(MOT_ERR_ARG, "%s: the %s holds a NUL byte (at offset %zu); it must be text", path, what, nul);
    }
    return MOT_OK;
}

mot_status mot_read_file_max(const char *path, size_t max, const char *what, char **out, size_t *size) {
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever */
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
        return mot_fail(MOT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mot_fail(MOT_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        if (max >= ((size_t)1 << 20) && max % ((size_t)1 << 20) == 0 && (uint64_t)st.st_size >= 2 * (uint64_t)max) {
            return mot_fail(MOT_ERR_IO, "%s: %llu MiB is more than the %zu MiB a %s may have", path,
                            (unsigned long long)st.st_size >> 20, max >> 20, what);
        }
        return mot_fail(MOT_ERR_IO, "%s: %llu bytes is more than the %zu bytes a %s may have", path,
                        (unsigned long long)st.st_size, max, what);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < n) { /* the size from fstat bounds the read, whatever the file does meanwhile */
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return mot_fail(MOT_ERR_IO, "%s: read error: %s", path, strerror(e));
        }
        if (r == 0) {
            break; /* it shrank: what was there */
        }
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    if (size) {
        *size = got;
    }
    return MOT_OK;
}

int mot_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *mot_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) {
        return NULL;
    }
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') {
        p[k++] = '/';
    }
    memcpy(p + k, name, b + 1);
    return p;
}
