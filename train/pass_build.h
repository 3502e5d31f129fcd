/* What train/mot_pass.c compiles one teacher-forced pass into: an arena laid out by a bump
 * allocator, and two op lists (forward; backward) that become plans (scheduler/plan.h) a
 * backend executes, as inference's are. The ops are the table's (ops/op_table.h): the forward
 * ones with the step state set to one prefill per lane, the training ones with static shapes.
 * Internal to train/. */
#ifndef MOT_TRAIN_PASS_BUILD_H
#define MOT_TRAIN_PASS_BUILD_H

#include "scheduler/plan.h"

enum { MOT_PB_FORWARD = 0, MOT_PB_BACKWARD = 1 };

typedef struct {
    size_t bytes;                 /* the arena so far (64-byte aligned buffers) */
    mot_plan_op *ops[2];          /* [MOT_PB_FORWARD], [MOT_PB_BACKWARD] */
    int n_ops[2], cap[2];
    mot_weight **weights;         /* descriptors the ops point to (trainable f32 matrices) */
    int n_weights, cap_weights;
    int failed;                   /* out of memory while building: the build is void */
    mot_plan_op at;               /* what the next op belongs to: node, lane, expert, stack, layer, node_id */
} mot_pass_build;

/* A new arena buffer of `bytes` (> 0) bytes. Its contents are whatever the arena held (a slot
 * reuses arenas across passes, train/pass_slot.h): a pass zeroes what it accumulates into. */
mot_buf mot_pb_buf(mot_pass_build *b, size_t bytes);
static inline mot_buf mot_pb_floats(mot_pass_build *b, size_t n) { return mot_pb_buf(b, n * sizeof(float)); }
/* rows [r0, r0 + n) of a buffer of rows `width` floats wide */
static inline mot_buf mot_pb_rows(mot_buf whole, int r0, int n, int width) {
    return (mot_buf){whole.off + (size_t)r0 * width * sizeof(float), (size_t)n * width * sizeof(float)};
}

/* Appends a zeroed op of `kind` to list `dir` with b->at's placement and the kind's reads;
 * NULL (and b->failed) when out of memory. The pointer is valid until the next append. */
mot_plan_op *mot_pb_op(mot_pass_build *b, int dir, mot_op_kind kind);

/* The two ops both the layers (train/pass_layers.c) and the interaction (train/mot_pass.c,
 * train/pass_backward.c) emit: COPY (dst = src, a forward op), and MATMUL_BACKWARD_X
 * (dx (+)= dy w). */
void mot_pb_copy(mot_pass_build *b, mot_buf src, mot_buf dst);
void mot_pb_backward_x(mot_pass_build *b, mot_buf dx, mot_buf dy, const mot_weight *w, int n, int accumulate);

/* A stable copy of w for an op's w[], one per weight (NULL when out of memory). */
const mot_weight *mot_pb_weight(mot_pass_build *b, mot_weight w);

/* List `dir` as a new plan (mot_plan_free): RUN every op in order, one stream of work: where
 * the lane changes, the new lane WAITs for an event the old one RECORDs (the CPU's serial
 * executor runs in program order anyway; CUDA's lane streams are chained by them). */
mot_status mot_pb_plan(const mot_pass_build *b, int dir, int n_lanes, mot_plan **out);

void mot_pb_free(mot_pass_build *b);

#endif
