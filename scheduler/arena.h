/* The arena: one allocation per session holding everything a pass reads or writes except the
 * weights — the step state, each lane's activations, KV cache and latent caches. Plans refer
 * to it by byte offsets, so the same plan runs on host memory (CPU) or device memory (CUDA).
 * Its layout is fixed when the session starts; `generation` tells plans of different layouts
 * apart in the plan cache. */
#ifndef MOT_SCHEDULER_ARENA_H
#define MOT_SCHEDULER_ARENA_H

#include "scheduler/plan_source.h"

/* One lane's buffers. Rows: R = max_rows, C = ctx. */
typedef struct {
    mot_buf tokens;           /* int32 [R]: the tokens fed by the next pass */
    mot_buf x, xn;            /* [R, d] residual stream, normed input / matmul scratch */
    mot_buf q, att;           /* [R, n_heads*hd] */
    mot_buf k, v;             /* [R, kv_dim] new keys/values before they enter the cache */
    mot_buf gate, up;         /* [R, ffn] */
    mot_buf logits;           /* [vocab] */
    mot_buf all_logits;       /* [R, vocab]: every fed row's logits (lane 0 of a source with
                                 all_logits; else absent) */
    mot_buf k_cache, v_cache; /* [n_layers, n_kv, C, hd]: head-major, each kv head's keys contiguous */
    /* interaction (stacks > 0) */
    mot_buf z, nz;            /* [R, d_s] forward projection, its norm */
    mot_buf lat_k, lat_v;     /* [R, d_s] new latent keys/values */
    mot_buf lat_k_cache, lat_v_cache; /* [Q, C, d_s] */
    mot_buf lat_q, lat_att, lat_o;    /* [R, d_s] the primary's queries, attention, output */
} mot_lane_bufs;

typedef struct mot_arena_layout_s {
    size_t bytes;
    uint64_t generation;
    mot_buf step;             /* mot_step_state, at offset 0 */
    int n_lanes;
    mot_lane_bufs lane[MOT_MAX_LANES];
} mot_arena_layout;

/* Lays out the arena for src's lanes and sizes (64-byte aligned buffers). */
mot_status mot_arena_plan(const mot_plan_source *src, mot_arena_layout *out);

/* A KV cache layer / latent cache stack inside a lane's cache buffer. */
mot_buf mot_arena_slice(mot_buf whole, int index, int count);

#endif
