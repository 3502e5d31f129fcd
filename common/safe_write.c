#include "common/safe_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

/* The folder holding path ("." for a bare name); heap. */
static char *folder_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        return strdup(".");
    }
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, path, len);
        d[len] = '\0';
    }
    return d;
}

static const char *kind_name(mode_t m) {
    if (S_ISLNK(m)) return "symlink";
    if (S_ISCHR(m)) return "character device";
    if (S_ISBLK(m)) return "block device";
    if (S_ISFIFO(m)) return "FIFO";
    if (S_ISSOCK(m)) return "socket";
    return "special file";
}

/* The temporary file goes beside path: its folder must exist and be writable. */
static mot_status folder_writable(const char *path) {
    char *dir = folder_of(path);
    if (!dir) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    struct stat ds;
    mot_status r = MOT_OK;
    if (stat(dir, &ds) != 0 || !S_ISDIR(ds.st_mode)) {
        r = mot_fail(MOT_ERR_IO, "%s: cannot create it: the folder %s does not exist", path, dir);
    } else if (access(dir, W_OK | X_OK) != 0) {
        r = mot_fail(MOT_ERR_IO, "%s: cannot create it in %s: %s", path, dir, strerror(errno));
    }
    free(dir);
    return r;
}

/* lstat's answer: *exists, and *st when it does. */
static mot_status inspect(const char *path, int force, int *exists, struct stat *st) {
    if (!path || !path[0]) {
        return mot_fail(MOT_ERR_ARG, "the output file name is empty");
    }
    *exists = 0;
    if (lstat(path, st) != 0) {
        if (errno != ENOENT) {
            return mot_fail(MOT_ERR_IO, "%s: cannot inspect the output path: %s", path, strerror(errno));
        }
        return folder_writable(path);
    }
    *exists = 1;
    if (S_ISREG(st->st_mode)) {
        return folder_writable(path);
    }
    if (S_ISDIR(st->st_mode)) {
        return mot_fail(MOT_ERR_ARG, "%s: is a directory (expected a file name for the output)", path);
    }
    if (!force) {
        return mot_fail(MOT_ERR_ARG, "%s: is a %s (refusing to replace it; use --force)", path, kind_name(st->st_mode));
    }
    return MOT_OK;
}

mot_status mot_out_check(const char *path, int force) {
    int exists = 0;
    struct stat st;
    return inspect(path, force, &exists, &st);
}

/* f is a stdio stream over this (fopencookie), so that the errno of the first failed write
 * is kept: stdio only keeps a flag, and a large fwrite that bypasses the buffer leaves
 * nothing for the final fflush to fail with. */
struct mot_out_sink {
    int fd;
    int err; /* the first failure's errno, 0 while all went well */
};

static ssize_t sink_write(void *cookie, const char *buf, size_t n) {
    mot_out_sink *k = cookie;
    size_t done = 0;
    while (done < n) {
        const ssize_t w = write(k->fd, buf + done, n - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            if (!k->err) k->err = w < 0 ? errno : EIO;
            errno = k->err;
            return done > 0 ? (ssize_t)done : -1;
        }
        done += (size_t)w;
    }
    return (ssize_t)done;
}

/* Closing the stream does not close fd: commit fsyncs it first. */
static int sink_close(void *cookie) {
    (void)cookie;
    return 0;
}

/* The stream over fd; on failure fd is closed. */
static mot_status open_stream(mot_out_file *o, int fd, const char *path) {
    o->sink = malloc(sizeof *o->sink);
    if (o->sink) {
        *o->sink = (mot_out_sink){.fd = fd};
        o->f = fopencookie(o->sink, "wb", (cookie_io_functions_t){.write = sink_write, .close = sink_close});
    }
    if (!o->f) {
        close(fd);
        free(o->sink);
        o->sink = NULL;
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    return MOT_OK;
}

static mot_status open_in_place(mot_out_file *o, const char *path) {
    const int fd = open(path, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        return mot_fail(MOT_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    }
    return open_stream(o, fd, path);
}

static mot_status open_temp(mot_out_file *o, const char *path, int exists, const struct stat *st) {
    const size_t len = strlen(path);
    o->tmp = malloc(len + 12);
    if (!o->tmp) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(o->tmp, path, len);
    memcpy(o->tmp + len, ".tmp.XXXXXX", 12);
    const int fd = mkstemp(o->tmp);
    if (fd < 0) {
        const int e = errno;
        free(o->tmp);
        o->tmp = NULL;
        return mot_fail(MOT_ERR_IO, "%s: cannot create a temporary file beside it: %s", path, strerror(e));
    }
    /* mkstemp makes it 0600: give it the mode the replaced file had, or a new file's mode. */
    mode_t mode;
    if (exists) {
        mode = st->st_mode & 07777;
    } else {
        const mode_t mask = umask(0);
        umask(mask);
        mode = 0666 & ~mask;
    }
    (void)fchmod(fd, mode);
    if (open_stream(o, fd, path) != MOT_OK) {
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    return MOT_OK;
}

mot_status mot_out_open(mot_out_file *o, const char *path, int force) {
    memset(o, 0, sizeof *o);
    int exists = 0;
    struct stat st;
    MOT_TRY(inspect(path, force, &exists, &st));
    o->path = strdup(path);
    if (!o->path) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    /* Not regular here means forced (inspect refused it otherwise). */
    mot_status r = exists && !S_ISREG(st.st_mode) ? open_in_place(o, path) : open_temp(o, path, exists, &st);
    if (r != MOT_OK) {
        free(o->path);
        o->path = NULL;
    }
    return r;
}

/* Makes the rename durable; best effort (some file systems refuse fsync on a folder). */
static void sync_folder(const char *path) {
    char *dir = folder_of(path);
    const int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

mot_status mot_out_commit(mot_out_file *o) {
    if (!o->f) {
        mot_out_abort(o);
        return mot_fail(MOT_ERR_INTERNAL, "output file committed twice");
    }
    const int fd = o->sink->fd;
    int e = 0;
    if (fflush(o->f) != 0 || ferror(o->f)) {
        e = o->sink->err ? o->sink->err : EIO;
    }
    fclose(o->f); /* the buffer is flushed: nothing can fail here */
    o->f = NULL;
    /* fsync of a device or a pipe written in place (--force) may be refused: that is no loss. */
    if (!e && fsync(fd) != 0 && (o->tmp || (errno != EINVAL && errno != EROFS && errno != ENOTSUP))) {
        e = errno;
    }
    if (close(fd) != 0 && !e && errno != EINTR) {
        e = errno;
    }
    o->sink->fd = -1;
    if (!e && o->tmp && rename(o->tmp, o->path) != 0) {
        e = errno;
    }
    if (!e && o->tmp) {
        free(o->tmp);
        o->tmp = NULL;
        sync_folder(o->path);
    }
    char path[1024];
    snprintf(path, sizeof path, "%s", o->path);
    mot_out_abort(o);
    return e ? mot_fail(MOT_ERR_IO, "%s: cannot write: %s", path, strerror(e)) : MOT_OK;
}

void mot_out_abort(mot_out_file *o) {
    if (o->f) {
        fclose(o->f);
        o->f = NULL;
    }
    if (o->sink) {
        if (o->sink->fd >= 0) {
            close(o->sink->fd);
        }
        free(o->sink);
        o->sink = NULL;
    }
    if (o->tmp) {
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
    }
    free(o->path);
    o->path = NULL;
}
