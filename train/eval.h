/* `mot eval` (SPEC 5, "What to compare"): per example, the completion's negative
 * log-likelihood in nats under MoT (routing as at inference, SPEC 1.1), under each expert alone,
 * and under the router's top-1 expert alone (routing without interaction): the paper's
 * baselines. NLLs of the same text under different tokenizers are comparable in nats (and
 * in bits per byte). */
#ifndef MOT_TRAIN_EVAL_H
#define MOT_TRAIN_EVAL_H

#include "ops/step_state.h"
#include "train/train_data.h"
#include "train/train_step.h"

typedef struct {
    int line;
    double mot;        /* nats */
    double top1;       /* nats, the router's top-1 expert alone */
    int top1_expert;
    int active[MOT_MAX_LANES]; /* the routed set, primary first (k of them) */
    double *alone;     /* [M] nats, each expert alone */
    size_t bytes;      /* of the completion */
} mot_eval_example;

typedef struct {
    int n, k, M;
    mot_eval_example *ex;
} mot_eval_result;

mot_status mot_eval_run(const mot_trainer *t, const mot_train_data *d, mot_eval_result *out);
void mot_eval_result_free(mot_eval_result *r);

/* The completion's NLL in nats under expert m alone (no interaction layer). */
mot_status mot_eval_alone_nll(const mot_trainer *t, const mot_train_example *e, int m, double *nll);

/* L_route's targets (docs/training.md): every example's route_target = the expert whose NLL
 * alone is lowest (ties: the lower index). M passes an example; progress on stderr. */
mot_status mot_train_route_targets(const mot_trainer *t, mot_train_data *d);

#endif
