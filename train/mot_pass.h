/* One teacher-forced pass of a routed set over one example (SPEC 5): every active expert runs
 * its whole sequence, the nodes of the pipeline's dataflow graph in order (the graph `mot
 * graph` prints: stacks, forward projectors, cross-attention, reverse projectors, samplers),
 * with the interaction mask of SPEC 1.4 over the whole sequences and the values of expert m
 * scaled by its straight-through gate. With a tape, it keeps what the backward needs, and
 * the backward walks the same nodes in reverse order. */
#ifndef MOT_TRAIN_MOT_PASS_H
#define MOT_TRAIN_MOT_PASS_H

#include <stdint.h>

#include "executor/backend.h"
#include "runtime/mot_model.h"
#include "train/train_data.h"
#include "train/train_params.h"

typedef struct mot_pass mot_pass;

/* What an example's first pass leaves for its second: the hidden state after each leading
 * stack node (one that runs before any reverse projector of its expert, so it reads only the
 * example's tokens and both passes compute the same bits), by graph node. The second pass
 * copies those instead of running the layers again. Zero-initialize; free with
 * mot_pass_prefix_free. */
typedef struct {
    int n;       /* graph nodes */
    float **x;   /* [n] NULL or [R, d] of that node's expert */
} mot_pass_prefix;

void mot_pass_prefix_free(mot_pass_prefix *c);

typedef struct {
    int k;                /* active experts, primary first */
    const int *active;    /* [k] expert indices */
    const float *gate;    /* [k] gate values: 1 (SPEC 5's straight-through value; the pass takes no
                             other: V is not scaled) or NULL */
    int alone;            /* the primary alone: all its layers, no interaction (k must be 1) */
    int tape;             /* keep what the backward needs */
    float dropout;        /* on the cross-attention output o; 0: none */
    uint64_t dropout_seed;
    mot_pass_prefix *prefix; /* NULL, or the example's shared leading-stack states (read and filled) */
    struct mot_pass_slot *slot; /* where it runs (train/pass_slot.h), kept across passes; NULL: */
    mot_backend_kind backend;   /* a backend of this kind for this pass alone (CUDA, or else the CPU) */
    int seat;                   /* the slot's seat: a different one for each pass alive at once */
} mot_pass_opts;

/* Runs the pass. The primary's logits for its completion tokens are then
 * mot_pass_logits: row t predicts completion token t (the ids from mot_pass_targets). */
/* Whether training supports the model's graph: a cross-attention queried by a non-primary
 * (`query: R` with R > 0, docs/pipeline.md) is refused at its attention node's FILE:LINE:COL. */
mot_status mot_pass_check_graph(const mot_model *m);

mot_status mot_pass_forward(const mot_model *m, const mot_train_view *w, const mot_train_example *e,
                            const mot_pass_opts *o, mot_pass **out);
int mot_pass_rows(const mot_pass *p);          /* T: the primary's completion tokens */
int mot_pass_vocab(const mot_pass *p);         /* the primary's vocabulary */
const float *mot_pass_logits(const mot_pass *p);   /* [T, vocab] */
const int *mot_pass_targets(const mot_pass *p);    /* [T] */

/* The backward: mot_pass_backward (train/pass_backward.h). */

void mot_pass_free(mot_pass *p);

#endif
