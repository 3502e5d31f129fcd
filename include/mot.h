/* mot — a C runtime for Mixture-of-Thoughts language models.
 * The one public header: status codes, opaque handles and the calls a host program makes.
 * Shape convention everywhere: row-major, PyTorch order, weights [out, in]. */
#ifndef MOT_H
#define MOT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    MOT_OK = 0,
    MOT_ERR_ARG = 1,         /* a bad argument or command-line value */
    MOT_ERR_IO = 2,          /* a file is missing or unreadable */
    MOT_ERR_FORMAT = 3,      /* a file is malformed (JSON, safetensors header, YAML) */
    MOT_ERR_SHAPE = 4,       /* a tensor is missing or has the wrong shape/dtype */
    MOT_ERR_UNSUPPORTED = 5, /* a valid but unsupported feature (architecture, tokenizer part) */
    MOT_ERR_NOMEM = 6,
    MOT_ERR_INTERNAL = 7
} mot_status;

/* The message of the last error raised on this thread: one line, naming the file and what
 * was wrong. Never NULL. */
const char *mot_last_error(void);
const char *mot_status_name(mot_status st);

/* Version string, e.g. "0.1.0". */
const char *mot_version(void);

#ifdef __cplusplus
}
#endif
#endif /* MOT_H */
