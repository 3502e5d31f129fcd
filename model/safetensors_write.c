/* Writing a safetensors file: header JSON (tensors in the given order, data contiguous),
 * padded with spaces to a multiple of 8 so the data stays aligned, then the data. Written
 * through common/safe_write.h (a temporary file in the same folder, fsynced and renamed), so a
 * crash or a full disk never leaves half a file. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/safe_write.h"
#include "model/safetensors.h"

static mot_status entry_nbytes(const char *path, const mot_st_entry *e, uint64_t *out) {
    if (!e->name || !e->name[0] || strcmp(e->name, "__metadata__") == 0) {
        return mot_fail(MOT_ERR_ARG, "%s: tensor name '%s' is not allowed", path,
                        e->name ? e->name : "(null)");
    }
    if ((unsigned)e->dtype >= MOT_DTYPE_COUNT || e->ndim < 0 || e->ndim > MOT_MAX_DIMS) {
        return mot_fail(MOT_ERR_ARG, "%s: tensor '%s': bad dtype or number of dimensions", path,
                        e->name);
    }
    uint64_t n = mot_dtype_size(e->dtype);
    for (int d = 0; d < e->ndim; d++) {
        if (e->shape[d] < 0 || __builtin_mul_overflow(n, (uint64_t)e->shape[d], &n)) {
            return mot_fail(MOT_ERR_ARG, "%s: tensor '%s': bad shape", path, e->name);
        }
    }
    if (n > 0 && !e->data) {
        return mot_fail(MOT_ERR_ARG, "%s: tensor '%s': no data", path, e->name);
    }
    *out = n;
    return MOT_OK;
}

/* The header JSON text (heap); offsets laid out contiguously in entry order. */
static mot_status build_header(const char *path, const mot_st_entry *entries, int n, char **out) {
    *out = NULL;
    json_t *root = json_object();
    mot_status st = root ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    if (st == MOT_OK) {
        json_object_set_new(root, "__metadata__", json_pack("{s:s}", "format", "pt"));
    }
    uint64_t offset = 0;
    for (int i = 0; st == MOT_OK && i < n; i++) {
        const mot_st_entry *e = &entries[i];
        uint64_t nbytes = 0;
        st = entry_nbytes(path, e, &nbytes);
        if (st == MOT_OK && json_object_get(root, e->name)) {
            st = mot_fail(MOT_ERR_ARG, "%s: tensor '%s': name given twice", path, e->name);
        }
        if (st != MOT_OK) {
            break;
        }
        json_t *shape = json_array();
        for (int d = 0; d < e->ndim; d++) {
            json_array_append_new(shape, json_integer(e->shape[d]));
        }
        json_t *obj = json_pack("{s:s, s:o, s:[I, I]}", "dtype", mot_dtype_name(e->dtype), "shape",
                                shape, "data_offsets", (json_int_t)offset,
                                (json_int_t)(offset + nbytes));
        if (!obj || json_object_set_new(root, e->name, obj) != 0) {
            st = mot_fail(MOT_ERR_NOMEM, "%s: cannot build the header", path);
        }
        offset += nbytes;
    }
    if (st == MOT_OK && !(*out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
        st = mot_fail(MOT_ERR_NOMEM, "%s: cannot build the header", path);
    }
    json_decref(root);
    return st;
}

static int write_body(FILE *f, const char *header, const mot_st_entry *entries, int n) {
    size_t len = strlen(header);
    size_t padded = (len + 7) / 8 * 8;
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++) {
        prefix[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    }
    int ok = fwrite(prefix, 1, 8, f) == 8 && fwrite(header, 1, len, f) == len;
    for (size_t i = len; ok && i < padded; i++) {
        ok = fputc(' ', f) != EOF;
    }
    for (int i = 0; ok && i < n; i++) {
        uint64_t nbytes = mot_dtype_size(entries[i].dtype);
        for (int d = 0; d < entries[i].ndim; d++) {
            nbytes *= (uint64_t)entries[i].shape[d]; /* checked by entry_nbytes */
        }
        ok = nbytes == 0 || fwrite(entries[i].data, 1, nbytes, f) == nbytes;
    }
    return ok;
}

mot_status mot_st_write(const char *path, const mot_st_entry *entries, int n, int force) {
    if (n < 0 || (n > 0 && !entries)) {
        return mot_fail(MOT_ERR_ARG, "%s: no tensors to write", path);
    }
    char *header;
    MOT_TRY(build_header(path, entries, n, &header));
    mot_out_file out;
    mot_status st = mot_out_open(&out, path, force);
    if (st == MOT_OK) {
        /* A short write leaves the stream's error flag set: commit reports it. */
        (void)write_body(out.f, header, entries, n);
        st = mot_out_commit(&out);
    }
    free(header);
    return st;
}
