/* The trainable MoT tensors (SPEC 2.2: router.* and interaction.*) as one f32 array, and
 * views that name each tensor's place in it. The same layout holds the values, the
 * gradients and the optimizer's two moments, so one view type serves all four. */
#ifndef MOT_TRAIN_TRAIN_PARAMS_H
#define MOT_TRAIN_TRAIN_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/mot_model.h"

typedef struct {
    char *name;       /* SPEC 2.2 name, e.g. "interaction.0.attn.q_proj.weight" */
    int ndim;         /* 2: a matrix [out, in]; 1: a bias or a norm vector */
    int64_t shape[2];
    size_t offset;    /* into the f32 array */
    size_t count;
} mot_train_tensor;

typedef struct {
    int n;
    mot_train_tensor *t; /* in file order (router, then interaction q = 0..Q-1) */
    size_t total;        /* floats in the array */
} mot_train_layout;

/* A linear's two tensors in one array: w [out, in], b [out] or NULL (no bias in the file). */
typedef struct {
    float *w, *b;
    int out, in;
} mot_train_linear;

typedef struct {
    mot_train_linear *fwd; /* [M] F_m [d_s, d_m] */
    mot_train_linear *rev; /* [M] R_m [d_m, d_s] */
    mot_train_linear q, k, v, o;
    float *norm_w, *norm_b; /* [d_s] when the latent norm is layernorm, else NULL */
} mot_train_inter;

typedef struct {
    float *base;            /* the array the view is of */
    size_t count;           /* its floats (the layout's total) */
    mot_train_linear fc1, fc2;
    mot_train_inter *inter; /* [Q] */
    int stacks, n_experts;
} mot_train_view;

/* The layout of the tensors the model's weights file holds (a bias exactly when present). */
mot_status mot_train_layout_build(const mot_model *m, mot_train_layout *lay);
void mot_train_layout_free(mot_train_layout *lay);
const mot_train_tensor *mot_train_layout_find(const mot_train_layout *lay, const char *name);

/* The model's bound MoT weights (any stored dtype) into values[lay->total] as f32. */
mot_status mot_train_values_from_model(const mot_model *m, const mot_train_layout *lay, float *values);

/* The view of array `base` (values, gradients or moments). */
mot_status mot_train_view_bind(const mot_model *m, const mot_train_layout *lay, float *base, mot_train_view *v);
void mot_train_view_free(mot_train_view *v);

/* A f32 matrix of the array as a kernel weight. */
mot_weight mot_train_weight(const mot_train_linear *l);

#endif
