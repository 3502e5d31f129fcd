/* Everything that changes from one pass to the next, in one struct that kernels read through
 * a pointer (never by value), so that a captured decode graph replays unchanged (DESIGN.md).
 * It lives at the start of the arena: host memory on the CPU, device memory on the GPU.
 * Plain C, shared by the C executors and the CUDA kernels. */
#ifndef MOT_OPS_STEP_STATE_H
#define MOT_OPS_STEP_STATE_H

#include <stdint.h>

#include "common/rng.h"

#define MOT_MAX_LANES 8 /* active experts per request (router top-K) */
#ifndef MOT_MAX_EOS
#define MOT_MAX_EOS 8 /* EOS ids per expert (as model/config.h) */
#endif

/* One lane (active expert). The pass reads pos/n_new/rows; SAMPLE writes token; STEP_ADVANCE
 * moves pos and rows on by n_new and sets the next pass's n_new. */
typedef struct {
    int32_t pos;       /* tokens in its KV cache before this pass */
    int32_t n_new;     /* tokens fed this pass (prompt length, 1, or 0 when the lane is dead) */
    int32_t rows;      /* interaction rows (latent keys) in its caches before this pass */
    int32_t n_prompt;  /* N_m: its prompt length in its own tokens (the prefill mask) */
    int32_t alive;     /* 0 once a non-primary sampled EOS (SPEC 1.5) */
    int32_t token;     /* the token sampled by the last pass */
    int32_t n_sampled; /* tokens sampled so far */
    int32_t pad_;
    mot_rng rng;       /* its sampler's random stream (device sampling) */
} mot_lane_step;

typedef struct {
    int32_t prefill;   /* 1 during the prefill pass (the proportional cross-attention mask) */
    int32_t n_lanes;
    int32_t step;      /* passes done */
    int32_t pad_;
    mot_lane_step lane[MOT_MAX_LANES];
} mot_step_state;

/* Bits of mot_plan_op.reads: the step-varying values an op depends on. */
enum {
    MOT_READS_POS = 1 << 0,
    MOT_READS_N_NEW = 1 << 1,
    MOT_READS_ROWS = 1 << 2,
    MOT_READS_ALIVE = 1 << 3,
    MOT_READS_PREFILL = 1 << 4,
    MOT_READS_TOKEN = 1 << 5,
    MOT_READS_RNG = 1 << 6,
};

#endif
