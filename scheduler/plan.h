/* A plan: what one pass (prefill or one decode step) of a routed expert set computes, as a
 * backend-independent program (DESIGN.md, "The plan"):
 *   lanes  one per active expert, lane 0 the primary;
 *   ops    kind, lane, buffers as arena references, weights, static dims, and which
 *          step-varying values (scheduler/step_state.h) they read;
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

#include "kernels/cpu/kernels.h"
#include "mot.h"
#include "scheduler/step_state.h"

/* A byte range of the arena. A buffer with bytes == 0 is absent. */
typedef struct {
    size_t off, bytes;
} mot_buf;

typedef enum {
    MOT_PHASE_PREFILL = 0,       /* the prompt (whole), then logits, sampling, step advance */
    MOT_PHASE_DECODE = 1,        /* one token per alive lane, the same */
    MOT_PHASE_PREFILL_CHUNK = 2, /* part of a long prompt (single expert only): no logits */
    MOT_PHASE_COUNT
} mot_phase;

typedef enum {
    /* x[n, d] = embed[tokens[t]]                          in: tokens (int32)   out[0]: x */
    MOT_OP_EMBED,
    /* out[n, d] = rmsnorm(in[n, d]) * vec                 (HF LlamaRMSNorm) */
    MOT_OP_RMSNORM,
    /* out[0] = rmsnorm(in[n-1]) * vec: the last row only (before the LM head) */
    MOT_OP_RMSNORM_LAST,
    /* y_j[n, rows_j] = in[n, cols] W_j^T (+ bias_j), j < n_w; accumulate: out[0] += y_0
     * (through scratch on the CPU). rows = 1 when last_row_only is not used: n rows. */
    MOT_OP_MATMUL,
    /* RoPE on q [n, n_heads, hd] (out[0]) and k [n, n_kv, hd] (out[1]) in place at positions
     * pos..pos+n-1, then k (out[1]) and v (in2) copied into the layer's cache (kv[0], kv[1];
     * kv head g of position j at j * kv_stride + g * kv_head_stride floats) at pos. */
    MOT_OP_ROPE_APPEND,
    /* out[0][n, n_heads*hd] = causal GQA attention of q (in) over kv[0], kv[1] rows [0, pos+n) */
    MOT_OP_ATTENTION,
    /* out[0][n, f] = silu(out[0]) * in */
    MOT_OP_SWIGLU,
    /* out[n, d_s] = layernorm(in) * vec + vec2 (PyTorch LayerNorm, eps 1e-5) */
    MOT_OP_LAYERNORM,
    /* rows of in, in2 [n, d_s] copied into kv[0], kv[1] (this stack's latent caches, d_s
     * floats per row) at rows */
    MOT_OP_LATENT_APPEND,
    /* out[0][n_q, d_s]: the primary's queries (in) over every lane's latent keys/values
     * seg_k[m], seg_v[m] with the proportional mask in prefill (SPEC 1.4) */
    MOT_OP_CROSS_ATTENTION,
    /* token = sample(in = logits [vocab]) into the step state and tokens[0] (out[0]) */
    MOT_OP_SAMPLE,
    /* every lane: pos += n_new, rows += n_new, alive &= !eos (non-primaries), n_new = alive,
     * prefill = 0, step++ */
    MOT_OP_STEP_ADVANCE,
    MOT_OP_KIND_COUNT
} mot_op_kind;

/* The pipeline-graph node an op belongs to (profiling slices, NVTX ranges). */
typedef enum {
    MOT_NODE_STACK = 0, /* an expert's layers (embedding and LM head included) */
    MOT_NODE_PROJECTOR, /* forward / reverse projections and the latent norm */
    MOT_NODE_ATTENTION, /* the primary's cross-attention and its output projection */
    MOT_NODE_SAMPLER,   /* sampling and the step advance */
    MOT_NODE_KIND_COUNT
} mot_node_kind;

#define MOT_OP_MAX_W 3

typedef struct {
    mot_op_kind kind;
    mot_node_kind node;
    int lane;          /* which lane's stream/threads run it */
    int expert;        /* pipeline index of the lane's expert */
    int stack;         /* interaction stack q (stack nodes: the stack the layers belong to); -1 */
    int layer;         /* decoder layer, -1 when none */
    int node_id;       /* the pipeline-graph node it belongs to, 0 .. plan n_nodes-1: one per
                          (lane, node kind, stack, forward/reverse); profiling groups ops by it */
    int reverse;       /* PROJECTOR ops: 1 for the reverse projection */
    unsigned reads;    /* MOT_READS_* */

    mot_buf in, in2;
    mot_buf out[MOT_OP_MAX_W];
    mot_buf scratch;   /* MATMUL with accumulate (CPU) */
    mot_buf kv[2];     /* KV cache layer (ROPE_APPEND, ATTENTION) or latent cache (LATENT_APPEND) */
    int n_seg;         /* CROSS_ATTENTION: one segment per lane */
    mot_buf seg_k[MOT_MAX_LANES], seg_v[MOT_MAX_LANES];

    int n_w;
    const mot_weight *w[MOT_OP_MAX_W];  /* host descriptors; the CUDA backend maps them */
    const float *bias[MOT_OP_MAX_W];    /* f32 [rows_j] or NULL */
    const float *vec, *vec2;            /* norm weight / bias; ROPE_APPEND: inv_freq [hd/2] */
    int accumulate;
    int single_row;    /* MATMUL: one row (the LM head after RMSNORM_LAST), whatever n is */

    /* static dims */
    int d;             /* row width of in (hidden, d_s, vocab for SAMPLE) */
    int n_heads, n_kv, hd, window;
    int kv_stride;     /* cache: floats from one position to the next */
    int64_t kv_head_stride; /* cache: floats from one kv head to the next */
    float eps, scale;
    int eos[MOT_MAX_LANES][MOT_MAX_EOS]; /* STEP_ADVANCE: EOS ids per lane (-1 padded) */
    int ignore_eos;
} mot_plan_op;

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

const char *mot_op_kind_name(mot_op_kind k);
const char *mot_node_kind_name(mot_node_kind k);
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

/* Human-readable listing (mot graph --plan, tests): one line per instruction. */
void mot_plan_print(const mot_plan *p, void *file /* FILE* */);

#endif
