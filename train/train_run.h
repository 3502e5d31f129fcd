/* `mot train`: the loop around mot_train_batch: data order, Gumbel draws, AdamW, progress,
 * evaluation, checkpoints, resume and Ctrl-C (SPEC 5; docs/training.md). */
#ifndef MOT_TRAIN_TRAIN_RUN_H
#define MOT_TRAIN_TRAIN_RUN_H

#include <stdint.h>

#include "train/adamw.h"
#include "train/train_step.h"

typedef struct {
    const char *data_path;       /* --data (required) */
    const char *eval_path;       /* --eval */
    const char *out_path;        /* -o: the trained weights (SPEC 2.2) */
    const char *init_path;       /* --init: start from these weights instead of the pipeline's */
    const char *resume_path;     /* --resume CKPT */
    const char *checkpoint_path; /* --checkpoint: where checkpoints go (default OUT.ckpt) */
    const char *noise_path;      /* --noise: given Gumbel noise (tests), [S, B, M] gumbel0/gumbel1 */
    const char *grad_dump_path;  /* --grad-dump: one batch's loss terms and gradients, no update */
    const char *profile_path;    /* --profile: a Chrome trace of the run, and a summary on stderr */
    int steps, batch, checkpoint_every, eval_every, shuffle, max_tokens, force;
    int stop_after;              /* --stop-after N: checkpoint and stop after N steps of this run */
    uint64_t seed;
    mot_backend_kind backend;    /* --backend: the passes on the CPU (default) or CUDA */
    unsigned flags_given;        /* MOT_TRAIN_KEY_* bits of the settings given as flags: those win
                                    over the pipeline's `train:` section, which wins over defaults */
    mot_train_hparams h;
    mot_adamw_opts opt;
} mot_train_run_opts;

void mot_train_run_defaults(mot_train_run_opts *o);

mot_status mot_train_run(const char *pipeline_path, const mot_train_run_opts *o);

/* The mean L_LM over a data set under inference routing (SPEC 1.1: no noise, no gates, no
 * dropout): the eval loss `mot train --eval` reports. */
mot_status mot_train_eval_loss(const mot_trainer *t, const mot_train_data *d, double *loss);

#endif
