/* One op of a plan, as every backend reads it: its kind, the pipeline-graph node it belongs
 * to, buffers as arena references, weights, static dims and which step-varying values
 * (ops/step_state.h) it reads. The scheduler fills these in (scheduler/plan.h holds the plan:
 * ops plus the RUN/RECORD/WAIT program); the executors and the CUDA op launch
 * (kernels/cuda/op_launch.cu) run them. Plain C, also compiled by nvcc. */
#ifndef MOT_OPS_PLAN_OP_H
#define MOT_OPS_PLAN_OP_H

#include <stddef.h>
#include <stdint.h>

#include "common/weight.h"
#include "ops/step_state.h"

/* A byte range of the arena. A buffer with bytes == 0 is absent. */
typedef struct {
    size_t off, bytes;
} mot_buf;

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

const char *mot_op_kind_name(mot_op_kind k);
const char *mot_node_kind_name(mot_node_kind k);

#endif
