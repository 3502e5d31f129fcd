/* One expert's decoder layers over a whole teacher-forced sequence (positions 0..R-1), forward
 * with an optional tape of what the backward needs, and the backward of activation gradients
 * only (the expert is frozen: its weights get no gradient and stay in their stored dtype). */
#ifndef MOT_TRAIN_EXPERT_LAYERS_H
#define MOT_TRAIN_EXPERT_LAYERS_H

#include "mot.h"
#include "model/weights.h"

/* What a layer's backward reads (kept, not recomputed: 2 d + 2 (n_heads + n_kv) hd + 2 ffn
 * floats a token; docs/training.md). NULL fields: the layer was run without a tape. */
typedef struct {
    float *x_in;      /* [R, d] the layer's input */
    float *q;         /* [R, n_heads * hd] after RoPE */
    float *k, *v;     /* [R, n_kv * hd] k after RoPE */
    float *att;       /* [R, n_heads * hd] attention output, before o_proj */
    float *x_mid;     /* [R, d] after the attention residual */
    float *gate, *up; /* [R, ffn] before SwiGLU */
} mot_layer_tape;

/* x [R, d] through layer l in place; tape (NULL: none) is filled (its buffers allocated here). */
mot_status mot_train_layer_forward(const mot_expert *ex, int l, float *x, int R, mot_layer_tape *tape);

/* dx [R, d]: the gradient at the layer's output in, at its input out. */
mot_status mot_train_layer_backward(const mot_expert *ex, int l, float *dx, int R, const mot_layer_tape *tape);

void mot_layer_tape_free(mot_layer_tape *tape);

/* The final RMSNorm and LM head on `rows` rows of x [rows, d] -> logits [rows, vocab]. */
mot_status mot_train_head_forward(const mot_expert *ex, const float *x, int rows, float *logits);
/* dx[rows, d] += the gradient through the head and final norm of dlogits [rows, vocab]. */
mot_status mot_train_head_backward(const mot_expert *ex, const float *x, int rows, const float *dlogits, float *dx);

#endif
