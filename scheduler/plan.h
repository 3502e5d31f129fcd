/* A plan: what one pass (prefill or one decode step) of a routed expert set computes, as a
 * backend-independent program (DESIGN.md, "The plan"):
 *   lanes  one per active expert, lane 0 the primary;
 *   ops    kind, lane, buffers as arena references, weights, static dims, and which
 *          step-varying values (ops/step_state.h) they read;
 *   prog   RUN op / RECORD event / WAIT event, in an order valid when issued from one thread.
 * The CPU executor runs it inside one OpenMP parallel region; the CUDA executor issues RUN on
 * the lane's stream and RECORD/WAIT as events, and captures decode plans into CUDA Graphs.
 *
 * Token counts are not in the plan: an op reads n = step.lane[op.lane].n_new (<= the arena's
 * max_rows for its lane). Decode passes have n = 1 (0 for a dead lane). */
#ifndef MOT_SCHEDULER_PLAN_H
#define MOT_SCHEDULER_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "mot.h"
#include "ops/plan_op.h"

typedef enum {
    MOT_PHASE_PREFILL = 0,       /* the prompt (whole), then logits, sampling, step advance */
    MOT_PHASE_DECODE = 1,        /* one token per alive lane, the same */
    MOT_PHASE_PREFILL_CHUNK = 2, /* part of a long prompt (single expert only): no logits */
    MOT_PHASE_COUNT
} mot_phase;

typedef enum { MOT_INSTR_RUN = 0, MOT_INSTR_RECORD, MOT_INSTR_WAIT } mot_instr_kind;

typedef struct {
    mot_instr_kind kind;
    int lane;  /* RUN: the op's lane; RECORD: the recording lane; WAIT: the waiting lane */
    int arg;   /* RUN: op index; RECORD/WAIT: event index */
} mot_instr;

/* What a plan is compiled for, and its cache key. */
typedef struct {
    int n_lanes;
    int experts[MOT_MAX_LANES]; /* pipeline indices, lane order (lane 0 = primary) */
    mot_phase phase;
    uint64_t arena_generation;  /* the arena layout the buffer references point into */
} mot_plan_key;

typedef struct mot_plan {
    mot_plan_key key;
    uint64_t id;       /* unique per compilation: backends tie what they derive from a plan to it */
    int n_ops, n_instrs, n_events;
    int n_nodes;       /* distinct node_id values */
    mot_plan_op *ops;
    mot_instr *prog;
} mot_plan;

void mot_plan_free(mot_plan *p);

/* A new mot_plan.id (every compiler of plans takes its ids here, so none repeats). */
uint64_t mot_plan_next_id(void);

const char *mot_phase_name(mot_phase p);

/* The arena ranges an op writes / reads (for the hazard checks of the tests and executors):
 * fills up to `cap` entries, returns how many. */
int mot_plan_op_writes(const mot_plan_op *op, mot_buf *out, int cap);
int mot_plan_op_reads(const mot_plan_op *op, mot_buf *out, int cap);

/* Compiles (source, arena layout, phase) into a plan (key: lanes, phase, arena generation). */
struct mot_plan_source_s;
struct mot_arena_layout_s;
mot_status mot_plan_compile(const struct mot_plan_source_s *src, const struct mot_arena_layout_s *arena,
                            mot_phase phase, mot_plan **out);

/* The plan-level fusions of a decode step (scheduler/plan_fuse.c; mot_plan_compile runs it on
 * decode plans unless the source says unfused): on each lane, RMSNORM -> MATMUL -> SWIGLU
 * (the FFN) becomes one RMSNORM_MATMUL_SWIGLU, RMSNORM -> MATMUL -> ROPE_APPEND (attention's
 * q/k/v) one RMSNORM_MATMUL_ROPE_APPEND, RMSNORM(_LAST) -> MATMUL (the LM head) one
 * RMSNORM_MATMUL, when the three (two) are consecutive RUNs of the lane and each reads what
 * the one before it wrote (mot_plan_op_norm_feeds, _swiglu_after, _rope_after). Ops and
 * program shrink in place; events, nodes and the other ops are unchanged. Returns the number
 * of ops removed. */
int mot_plan_fuse(mot_plan *p);

/* Human-readable listing (mot graph --plan, tests): one line per instruction. */
void mot_plan_print(const mot_plan *p, void *file /* FILE* */);

#endif
