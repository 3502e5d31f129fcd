/* One expert's decoder layers and LM head over a whole teacher-forced sequence (positions
 * 0..R-1, one prefill) as plan ops (train/pass_build.h): the forward, with a tape of what the
 * backward reads when asked, and the backward of activation gradients only (the experts are
 * frozen: their weights get no gradient and stay in their stored dtype). */
#ifndef MOT_TRAIN_PASS_LAYERS_H
#define MOT_TRAIN_PASS_LAYERS_H

#include "model/weights.h"
#include "train/pass_build.h"

/* What a layer's backward reads (kept, not recomputed: 2 d + 2 (n_heads + n_kv) hd + 2 ffn
 * floats a token; docs/training.md). x_in.bytes == 0: no tape. */
typedef struct {
    mot_buf x_in;      /* [R, d] the layer's input */
    mot_buf q;         /* [R, n_heads * hd] after RoPE */
    mot_buf k, v;      /* [R, n_kv * hd] k after RoPE: the layer's "KV cache" */
    mot_buf att;       /* [R, n_heads * hd] attention output, before o_proj */
    mot_buf x_mid;     /* [R, d] after the attention residual */
    mot_buf gate, up;  /* [R, ffn] before SwiGLU */
} mot_pb_tape;

/* Scratch shared by every lane's layers (the pass is one chain of work, so no two layers use
 * it at once): the forward's (of layers without a tape, and the parts a tape does not keep) and
 * the backward's. */
typedef struct {
    mot_buf xn, tmp;              /* [R, d] */
    mot_buf q, att;               /* [R, n_heads * hd] */
    mot_buf k, v, kc, vc;         /* [R, n_kv * hd]: before RoPE, and the cache */
    mot_buf gate, up, h;          /* [R, ffn] */
    mot_buf dh, dg, du;           /* backward: [R, ffn] */
    mot_buf dxn;                  /* [R, d] */
    mot_buf datt, dq;             /* [R, n_heads * hd] */
    mot_buf dk, dv;               /* [R, n_kv * hd] */
} mot_pb_scratch;

/* The scratch for n lanes, lane i R[i] rows of expert ex[i]: each buffer the largest any
 * lane needs (backward: its part too). */
void mot_pb_scratch_make(mot_pass_build *b, const mot_expert *const *ex, const int *R, int n, int backward,
                         mot_pb_scratch *s);

/* Layer l of ex on x [R, d] in place (ops of b->at's lane); tape NULL: none, else its buffers
 * are made and filled. */
void mot_pb_layer_forward(mot_pass_build *b, const mot_expert *ex, int l, mot_buf x, int R, const mot_pb_scratch *s,
                          mot_pb_tape *tape);
/* dx [R, d]: the gradient at the layer's output in, at its input out. */
void mot_pb_layer_backward(mot_pass_build *b, const mot_expert *ex, int l, mot_buf dx, int R,
                           const mot_pb_scratch *s, const mot_pb_tape *tape);

/* The final RMSNorm and LM head on x [T, d] (a lane whose step feeds T rows) into logits
 * [T, vocab]; xn [T, d] is its scratch. */
void mot_pb_head_forward(mot_pass_build *b, const mot_expert *ex, mot_buf x, mot_buf xn, mot_buf logits);
/* dx [T, d] += the gradient through the head and final norm of dlogits [T, vocab]; dy [T, d]
 * scratch. */
void mot_pb_head_backward(mot_pass_build *b, const mot_expert *ex, mot_buf x, int T, mot_buf dlogits, mot_buf dy,
                          mot_buf dx);

#endif
