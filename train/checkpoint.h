/* A resumable training checkpoint: one safetensors file holding the trained tensors
 * (`param.NAME`), AdamW's moments (`adam.m.NAME`, `adam.v.NAME`) and the loop's state
 * (`state.step`, `state.seed`, `state.batch`, `state.examples`: I64 [1]). The data order and
 * every random draw are functions of (seed, step), so these are all a resume needs to take
 * the same next step, bit for bit on the CPU. */
#ifndef MOT_TRAIN_CHECKPOINT_H
#define MOT_TRAIN_CHECKPOINT_H

#include <stdint.h>

#include "train/train_params.h"

typedef struct {
    int64_t step;     /* steps done */
    uint64_t seed;
    int64_t batch;
    int64_t examples; /* training examples in the data file */
} mot_train_state;

/* Writes PATH through common/safe_write.h. */
mot_status mot_checkpoint_write(const char *path, const mot_train_layout *lay, const float *values, const float *m,
                                const float *v, const mot_train_state *s, int force);

/* Reads PATH into values, m, v (the layout's tensors, every one checked by name and shape:
 * "CKPT: tensor 'param.interaction.0.forward.math.weight': missing (a checkpoint of another
 * pipeline?)") and *s. */
mot_status mot_checkpoint_read(const char *path, const mot_train_layout *lay, float *values, float *m, float *v,
                               mot_train_state *s);

/* The trained tensors alone, SPEC 2.2 names, f32: the weights file `mot run` loads. */
mot_status mot_train_weights_write(const char *path, const mot_train_layout *lay, const float *values, int force);

#endif
