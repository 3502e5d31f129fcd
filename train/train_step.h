/* The gradient of SPEC 5's joint loss over one batch: Gumbel straight-through routing, a
 * teacher-forced pass per routed set, L = l_lm L_LM + l_ent L_ent + l_bal L_bal + l_con L_con
 * (+ l_route L_route, mot's optional routing supervision), and the backward into every
 * trainable tensor (router MLP and interaction layers). */
#ifndef MOT_TRAIN_TRAIN_STEP_H
#define MOT_TRAIN_TRAIN_STEP_H

#include <stdint.h>

#include "executor/backend.h"
#include "train/train_data.h"
#include "train/train_params.h"

typedef struct {
    float tau;                         /* Gumbel-softmax temperature (1.0) */
    float l_lm, l_ent, l_bal, l_con;   /* the terms' weights (1, 0.01, 0.01, 0.05) */
    float l_route;                     /* mot's routing supervision (0: SPEC 5 exactly); docs/training.md */
    float dropout;                     /* on the cross-attention output (0.1) */
} mot_train_hparams;

void mot_train_hparams_default(mot_train_hparams *h);

typedef struct {
    double total, lm, ent, bal, con; /* the terms unweighted; total weighted */
    double route;                    /* L_route unweighted (0 while the targets are unscored) */
    long tokens;                     /* T: the primaries' completion tokens */
    long tokens_all;                 /* every pass's tokens (for tokens/s) */
} mot_train_losses;

typedef struct {
    const mot_model *m;
    const mot_train_layout *lay;
    float *values, *grad;   /* [lay->total] */
    mot_train_view w, g;    /* views of values and grad */
    mot_backend_kind backend; /* where the passes run: CPU by default (mot_trainer_set_backend) */
    struct mot_pass_slot *slot; /* where the passes run: seat 0 and 1 for an example's two passes */
    struct mot_trace *trace;    /* profiling (mot_trainer_set_trace), or NULL */
} mot_trainer;

struct mot_gpu_api; /* kernels/cuda/gpu_api.h */

mot_status mot_trainer_init(mot_trainer *t, const mot_model *m, const mot_train_layout *lay);
void mot_trainer_free(mot_trainer *t);
/* Runs the passes on `kind` (CUDA, or the CPU; api: the tests' recording fake, or NULL). */
mot_status mot_trainer_set_backend(mot_trainer *t, mot_backend_kind kind, const struct mot_gpu_api *api);
/* Records the passes (their plans' nodes, host slices forward/backward/loss/router) into trace
 * (profiling/trace.h; NULL: off). */
void mot_trainer_set_trace(mot_trainer *t, struct mot_trace *trace);
/* t->values were changed (an optimizer step, a checkpoint read): the next pass copies them
 * to the device (where the backend has its own memory). */
void mot_trainer_values_changed(mot_trainer *t);

/* Adds the batch's gradient into t->grad (the caller zeroes it). g0, g1 [B, M]: the Gumbel
 * noise of the two routings. active0, active1 [B, K] (may be NULL): the sets, primary first. */
mot_status mot_train_batch(const mot_trainer *t, const mot_train_example *const *batch, int B, const float *g0,
                           const float *g1, const mot_train_hparams *h, uint64_t dropout_seed,
                           mot_train_losses *loss, int *active0, int *active1);

/* The router's scores s [M] for an example (SPEC 1.1), from the current values; an error when
 * one is not finite. */
mot_status mot_train_router_scores(const mot_trainer *t, const mot_train_example *e, float *s);

/* The K indices of the largest x[0..M) in descending order, ties to the lower index. */
void mot_train_top_k(const float *x, int M, int K, int *out);

#endif
