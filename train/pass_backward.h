/* The backward of a pass (train/mot_pass.h runs the forward): the graph's nodes in reverse as
 * the training ops, built with the forward (the arena holds both) and run here. */
#ifndef MOT_TRAIN_PASS_BACKWARD_H
#define MOT_TRAIN_PASS_BACKWARD_H

#include "train/train_params.h"

typedef struct mot_pass mot_pass;

/* The backward from dlogits [T, vocab]: adds the gradient of every trainable tensor into g
 * (the gradient view of the same layout as the forward's w) and dgate[k] (d loss / d gate of
 * each active expert). Needs a pass run with a tape. */
mot_status mot_pass_backward(mot_pass *p, const float *dlogits, const mot_train_view *g, float *dgate);

/* The backward's ops into the pass's build, with the forward's buffers known (called by the
 * forward's build). */
void mot_pass_backward_build(mot_pass *p);

#endif
