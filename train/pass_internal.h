/* What train/mot_pass.c (the forward, and the API) and train/pass_backward.c (the backward)
 * share: the state of a pass while it is built and run. Internal to train/. */
#ifndef MOT_TRAIN_PASS_INTERNAL_H
#define MOT_TRAIN_PASS_INTERNAL_H

#include <string.h>

#include "common/error.h"
#include "train/pass_layers.h"
#include "train/pass_slot.h"
#include "train/train_data.h"

typedef struct mot_pass mot_pass;

/* One active expert (a lane: 0 = primary). */
typedef struct {
    const mot_expert *ex;
    int expert, R, N, d;
    const int *ids;        /* [R] its tokens: prompt, then completion */
    mot_buf tokens;        /* int32 [R] */
    mot_buf x;             /* [R, d] the hidden state as the nodes advance it */
    mot_pb_tape *tape;     /* [n_layers]; a layer has a tape when tape[l].x_in.bytes */
    mot_buf dx;            /* [R, d] backward: gradient at the current node (absent: none yet) */
    int live;              /* dx may be non-zero */
} lane_state;

/* Lane k's forward projector of stack q: z = h F^T (+b), n = norm(z), K, V (V times the gate,
 * which is 1 in training: SPEC 5's straight-through value). */
typedef struct {
    int present;
    mot_buf h, z, n, k, v; /* h [R, d] (the tape's copy of x); the others [R, d_s]; n == z without a norm */
    mot_buf dz, dn;        /* backward (absent: nothing reached them); dn == dz without a norm */
} proj_state;

/* The cross-attention of stack q (the primary's queries over its speakers' keys). */
typedef struct {
    int present;
    int n_seg, seg_lane[MOT_MAX_LANES]; /* the speaking lanes, ascending (listeners are not attended) */
    mot_buf q, a, o;       /* [R_p, d_s]: queries, attention output, o after o_proj (and dropout) */
    uint64_t dropout_seed;
    mot_buf d_o;           /* backward: gradient at o */
    mot_buf dk[MOT_MAX_LANES], dv[MOT_MAX_LANES]; /* the segments' key and value gradients */
} att_state;

/* A trainable tensor's gradient in the arena, keyed by the tensor's values in p->w: the
 * gradient view's same tensor is uploaded before the backward and read back after it. */
typedef struct {
    const float *value;
    mot_buf buf;           /* as many floats as the tensor has */
} grad_slot;

/* A leading stack node's state: copied in from the example's prefix (out 0) or out to it. */
typedef struct {
    int node;
    mot_buf buf;
    int out;
} prefix_snap;

struct mot_pass {
    const mot_model *m;
    const mot_train_view *w;
    const mot_graph *g;
    int K, Q, ds, H, alone, tape;
    lane_state *lane;   /* [K] */
    int *lane_of;       /* [M] expert -> lane, -1 when inactive */
    proj_state *proj;   /* [Q * K] */
    att_state *att;     /* [Q] */
    int *tape_node;     /* [n_nodes] whether a stack node keeps its tape */
    mot_pb_scratch s;   /* the lanes' layers' scratch */
    float dropout;
    int T, V;
    mot_buf head_x, head_xn, logits_buf, dlogits_buf, head_dy;
    float *logits;      /* [T, V] host copy */
    int *targets;       /* [T] */
    /* the prefix: leading stack states copied in from the host (in) or out to it (out) */
    int n_snap;
    prefix_snap *snap;  /* [n_nodes] */
    grad_slot *grads;   /* the trainable tensors the backward reaches */
    int n_grads, cap_grads;
    mot_pass_build b;
    mot_plan *plan[2];
    mot_pass_slot *slot; /* where it runs: the caller's, or its own (own_slot) */
    int own_slot;
    int seat;            /* the slot's seat it runs in */
    mot_backend *be;     /* that seat's */
    uint64_t epoch;      /* the slot's epoch when be was handed out (a later drop voids be) */
    mot_buf *zeros;      /* what the backward accumulates into from zero (the arena is reused) */
    int n_zeros, cap_zeros;
};

static inline int mot_pass_is_kind(const mot_graph_node *n, const char *k) { return !strcmp(n->kind, k); }

/* The op placement of graph node i (lane: its stream; the head runs on lane K). */
static inline void mot_pass_at_node(mot_pass *p, int i, mot_node_kind kind, int lane, int stack, int reverse) {
    const mot_graph_node *n = &p->g->nodes[i];
    p->b.at = (mot_plan_op){.node = kind, .lane = lane, .expert = n->expert, .stack = stack, .layer = -1,
                            .node_id = i, .reverse = reverse};
}

/* The lane's reverse projector reads the cross-attention (*from_att, the primary when the
 * graph says so) or its own z (SPEC 1.3); an error when it has neither input. Here, not in a
 * .c file, because the forward and the backward both ask. */
static inline mot_status mot_pass_reverse_source(const mot_pass *p, int i, int lane, int *from_att) {
    const mot_graph_node *n = &p->g->nodes[i];
    const int *in = mot_graph_node_inputs(n);
    int att = 0, own = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        const mot_graph_node *src = &p->g->nodes[in[k]];
        att |= mot_pass_is_kind(src, "attention");
        own |= mot_pass_is_kind(src, "projector") && !src->reverse;
    }
    *from_att = lane == 0 && att;
    if (!*from_att && !own) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "training: %s: no input on this route", n->id);
    }
    return MOT_OK;
}

#endif
