#include "train/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/safetensors.h"

static const char *const PREFIX[3] = {"param.", "adam.m.", "adam.v."};
static const char *const STATE[4] = {"state.step", "state.seed", "state.batch", "state.examples"};

static mot_status write_entries(const char *path, const mot_train_layout *lay, const float *const *arrays,
                                const char *const *prefix, int n_arrays, const mot_train_state *s, int force) {
    const int n = lay->n * n_arrays + (s ? 4 : 0);
    mot_st_entry *e = calloc((size_t)n + 1, sizeof *e);
    char **names = calloc((size_t)n + 1, sizeof *names);
    int64_t state[4] = {0};
    mot_status st = e && names ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    int k = 0;
    for (int a = 0; st == MOT_OK && a < n_arrays; a++) {
        for (int i = 0; i < lay->n; i++) {
            const mot_train_tensor *t = &lay->t[i];
            size_t len = strlen(prefix[a]) + strlen(t->name) + 1;
            names[k] = malloc(len);
            if (!names[k]) {
                st = mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            snprintf(names[k], len, "%s%s", prefix[a], t->name);
            e[k] = (mot_st_entry){.name = names[k], .dtype = MOT_DTYPE_F32, .ndim = t->ndim,
                                  .shape = {t->shape[0], t->shape[1]}, .data = arrays[a] + t->offset};
            k++;
        }
    }
    if (st == MOT_OK && s) {
        state[0] = s->step, state[1] = (int64_t)s->seed, state[2] = s->batch, state[3] = s->examples;
        for (int i = 0; i < 4; i++) {
            e[k++] = (mot_st_entry){.name = STATE[i], .dtype = MOT_DTYPE_I64, .ndim = 1, .shape = {1}, .data = &state[i]};
        }
    }
    if (st == MOT_OK) st = mot_st_write(path, e, k, force);
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names), free(e);
    return st;
}

mot_status mot_checkpoint_write(const char *path, const mot_train_layout *lay, const float *values, const float *m,
                                const float *v, const mot_train_state *s, int force) {
    const float *arrays[3] = {values, m, v};
    return write_entries(path, lay, arrays, PREFIX, 3, s, force);
}

mot_status mot_train_weights_write(const char *path, const mot_train_layout *lay, const float *values, int force) {
    const float *arrays[1] = {values};
    const char *const none[1] = {""};
    return write_entries(path, lay, arrays, none, 1, NULL, force);
}

mot_status mot_checkpoint_read(const char *path, const mot_train_layout *lay, float *values, float *m, float *v,
                               mot_train_state *s) {
    mot_st_set *set = NULL;
    MOT_TRY(mot_st_open_file(path, &set));
    float *arrays[3] = {values, m, v};
    mot_status st = MOT_OK;
    char name[512];
    for (int a = 0; st == MOT_OK && a < 3; a++) {
        for (int i = 0; st == MOT_OK && i < lay->n; i++) {
            const mot_train_tensor *t = &lay->t[i];
            snprintf(name, sizeof name, "%s%s", PREFIX[a], t->name);
            const mot_tensor *x = mot_st_find(set, name);
            if (!x) {
                st = mot_fail(MOT_ERR_SHAPE, "%s: tensor '%s': missing (a checkpoint of another pipeline?)", path, name);
            } else if (x->dtype != MOT_DTYPE_F32 || x->ndim != t->ndim || x->shape[0] != t->shape[0] ||
                       (t->ndim == 2 && x->shape[1] != t->shape[1])) {
                char want[64], got[64];
                st = mot_fail(MOT_ERR_SHAPE, "%s: tensor '%s': expected F32 %s, found %s %s (a checkpoint of another pipeline?)",
                              path, name, mot_shape_str(t->shape, t->ndim, want, sizeof want), mot_dtype_name(x->dtype),
                              mot_shape_str(x->shape, x->ndim, got, sizeof got));
            } else {
                memcpy(arrays[a] + t->offset, x->data, t->count * sizeof(float));
            }
        }
    }
    /* and nothing else trained: a checkpoint of a pipeline with more tensors is not this one */
    int expected = 3 * lay->n + 4;
    if (st == MOT_OK && mot_st_count(set) != expected) {
        st = mot_fail(MOT_ERR_SHAPE, "%s: %d tensors, expected %d for this pipeline (a checkpoint of another pipeline?)",
                      path, mot_st_count(set), expected);
    }
    int64_t state[4] = {0};
    for (int i = 0; st == MOT_OK && i < 4; i++) {
        const mot_tensor *x = mot_st_find(set, STATE[i]);
        if (!x || x->dtype != MOT_DTYPE_I64 || x->ndim != 1 || x->shape[0] != 1) {
            st = mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': missing or not I64 [1] (not a mot training checkpoint)",
                          path, STATE[i]);
        } else {
            memcpy(&state[i], x->data, sizeof state[i]);
        }
    }
    if (st == MOT_OK) *s = (mot_train_state){state[0], (uint64_t)state[1], state[2], state[3]};
    if (st == MOT_OK && (s->step < 0 || s->batch < 1 || s->examples < 1)) {
        st = mot_fail(MOT_ERR_FORMAT, "%s: state step %lld, batch %lld, examples %lld: not a valid training state", path,
                      (long long)s->step, (long long)s->batch, (long long)s->examples);
    }
    mot_st_close(set);
    return st;
}
