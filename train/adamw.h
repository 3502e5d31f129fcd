/* The optimizer of SPEC 5: AdamW (decoupled weight decay on matrices only), gradient clipping
 * at a global L2 norm, and the learning rate's linear warm-up then cosine decay. Each follows
 * PyTorch / Hugging Face exactly (torch.optim.AdamW, clip_grad_norm_,
 * get_cosine_schedule_with_warmup), so a user's numbers carry over. */
#ifndef MOT_TRAIN_ADAMW_H
#define MOT_TRAIN_ADAMW_H

#include "train/train_params.h"

typedef struct {
    float lr;            /* peak learning rate (5e-5) */
    float beta1, beta2;  /* 0.9, 0.999 */
    float eps;           /* 1e-8 */
    float weight_decay;  /* 0.01, on 2-D tensors only */
    float clip;          /* global L2 norm (1.0); 0: none */
    int warmup;          /* steps of linear warm-up */
    int total_steps;     /* the cosine reaches 0 here */
} mot_adamw_opts;

void mot_adamw_defaults(mot_adamw_opts *o);

/* The learning rate at 0-based step `step`: lr * step / warmup during warm-up, then
 * lr * (1 + cos(pi * progress)) / 2 (so step 0 of a warm-up has rate 0, as in HF). */
double mot_adamw_lr(const mot_adamw_opts *o, long step);

/* Scales grad to global norm <= clip (coefficient clip / (norm + 1e-6) when below 1, as
 * clip_grad_norm_); returns the norm before clipping. */
double mot_clip_grad_norm(float *grad, size_t n, double clip);

/* One AdamW step at 0-based `step` on values, with moments m, v (all [lay->total]). */
void mot_adamw_step(const mot_adamw_opts *o, const mot_train_layout *lay, long step, float *values,
                    const float *grad, float *m, float *v);

#endif
