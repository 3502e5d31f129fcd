/* One op of a plan, as every backend reads it: its kind, the pipeline-graph node it belongs
 * to, buffers as arena references, weights, static dims and which step-varying values
 * (ops/step_state.h) it reads. The scheduler fills these in (scheduler/plan.h holds the plan:
 * ops plus the RUN/RECORD/WAIT program); the executors and the CUDA op launch
 * (kernels/cuda/op_launch.h) run them. Plain C, also compiled by nvcc. */
#ifndef MOT_OPS_PLAN_OP_H
#define MOT_OPS_PLAN_OP_H

#include <stddef.h>
#include <stdint.h>

#include "common/weight.h"
#include "ops/op_table.h"
#include "ops/step_state.h"

/* A byte range of the arena. A buffer with bytes == 0 is absent. */
typedef struct {
    size_t off, bytes;
} mot_buf;

/* One kind per row of the op table (ops/op_table.h): MOT_OP_EMBED, MOT_OP_RMSNORM, ... */
typedef enum {
#define MOT_OP_ENUM_(KIND, name, reads, ref, cpu, cuda, doc) MOT_OP_##KIND,
    MOT_OP_TABLE(MOT_OP_ENUM_)
#undef MOT_OP_ENUM_
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

/* Heads and one layer's KV cache as ROPE_APPEND and ATTENTION read them: kv head g of position
 * j at j * kv_stride + g * kv_head_stride floats of k_cache / v_cache (head-major caches). */
typedef struct {
    mot_buf k_cache, v_cache;
    int n_heads, n_kv, hd;
    int kv_stride;          /* floats from one position to the next */
    int64_t kv_head_stride; /* floats from one kv head to the next */
} mot_op_kv;

/* Each kind's parameters, named for what they are: the member of mot_plan_op's union with the
 * kind's name (ops/op_table.h). Buffers are arena ranges; rows t < the lane's n_new (read
 * from the step state) unless said otherwise; f32 vectors are host pointers (the CUDA
 * backend maps them to device copies, mot_plan_op_vectors). */
typedef struct {
    mot_buf tokens; /* int32 [n] */
    mot_buf out;    /* [n, d]; the table is w[0] */
    int d;
} mot_op_embed;

typedef struct { /* RMSNORM and RMSNORM_LAST */
    mot_buf x, out; /* x [n, d]; out [n, d] (RMSNORM_LAST: [1, d], the last row of x) */
    const float *weight; /* [d] */
    int d;
    float eps;
} mot_op_rmsnorm;

typedef struct {
    mot_buf x;                /* [rows, w[0].cols] */
    mot_buf y[MOT_OP_MAX_W];  /* y_j [rows, w[j].rows] */
    mot_buf scratch;          /* accumulate on the CPU: y_0's product before the add */
    int accumulate;           /* y_0 += x W_0^T (+ bias_0); n_w == 1 */
    int single_row;           /* one row (the LM head after RMSNORM_LAST), whatever n is */
} mot_op_matmul;

typedef struct {
    mot_buf q, k;        /* [n, n_heads, hd], [n, n_kv, hd]: rotated in place */
    mot_buf v;           /* [n, n_kv, hd] */
    mot_op_kv kv;        /* k and v are stored at pos.. */
    const float *inv_freq; /* [hd / 2] */
} mot_op_rope_append;

/* RMSNORM_MATMUL and RMSNORM_MATMUL_SWIGLU: the plan's fusions of a decode step
 * (scheduler/plan_fuse.c), as the ops they replace would run one after another:
 *   norm    RMSNORM, or RMSNORM_LAST when matmul.single_row (x's last row into out [1, d]);
 *           its out is still written (later ops may read it);
 *   matmul  over norm.out (matmul.x == norm.out), no accumulate; the op's w, bias as MATMUL's;
 *   _SWIGLU then gate = silu(gate) * up, gate = matmul.y[0], up = matmul.y[1], f = w[0].rows;
 *   _ROPE_APPEND then rope (its q, k, v are matmul.y[0..2]), as ROPE_APPEND. */
typedef struct {
    mot_op_rmsnorm norm;
    mot_op_matmul matmul;
    mot_op_rope_append rope; /* _ROPE_APPEND only */
} mot_op_rmsnorm_matmul;

typedef struct {
    mot_buf q, out;      /* [n, n_heads, hd] */
    mot_op_kv kv;        /* keys/values [0, pos + n) */
    int window;          /* sliding window (0: none) */
    float scale;
} mot_op_attention;

typedef struct {
    mot_buf gate, up;    /* [n, f]; gate is overwritten */
    int f;
} mot_op_swiglu;

typedef struct {
    mot_buf x, out;      /* [n, d] */
    const float *weight, *bias; /* [d] or NULL (1, 0) */
    int d;
    float eps;
} mot_op_layernorm;

typedef struct {
    mot_buf k, v;                /* [n, d] */
    mot_buf k_cache, v_cache;    /* this stack's latent caches, d floats per row, written at rows.. */
    int d;
} mot_op_latent_append;

typedef struct {
    mot_buf q, out;      /* the primary's queries [n_q, d], out [n_q, d] */
    int d, heads;
    float scale;
    int n_seg;           /* the speaking lanes (0 .. K; 0: no key, the output is 0) */
    int seg_lane[MOT_MAX_LANES]; /* segment m is lane seg_lane[m]'s latent cache (its rows and
                                  * prompt length from that lane's step state), lanes ascending */
    mot_buf seg_k[MOT_MAX_LANES], seg_v[MOT_MAX_LANES];
} mot_op_cross_attention;

typedef struct {
    mot_buf logits;      /* [vocab] */
    mot_buf tokens;      /* int32: tokens[0] = the sampled token */
    int vocab;
} mot_op_sample;

typedef struct {
    int n_lanes;
    int eos[MOT_MAX_LANES][MOT_MAX_EOS]; /* EOS ids per lane (-1 padded) */
    int ignore_eos;
} mot_op_step_advance;

/* The training ops (SPEC 5): what each computes is in kernels/cpu/backward.h, under the
 * kernel of the same name. Their shapes are static, n included (a training plan is compiled
 * for its example's sequence lengths), so they read no step-varying value and a backend sizes
 * their launches on the host; like every op they run only on a lane the pass feeds (n_new > 0). Gradients are f32; weights the op reads are
 * host vectors (mapped, as the forward ops' are) or w[0]. */
typedef struct {
    mot_buf dy, dx;      /* dy [n, w[0].rows]; dx [n, w[0].cols] */
    int n, accumulate;   /* dx += (else overwritten) */
} mot_op_matmul_backward_x;

typedef struct {
    mot_buf dy, x;       /* [n, rows], [n, cols] */
    mot_buf dw, db;      /* [rows, cols], [rows]: +=; db absent: no bias */
    int n, rows, cols;
} mot_op_matmul_backward_w;

typedef struct {
    mot_buf dy, x, dx;   /* [n, d] */
    const float *weight; /* [d], frozen */
    int n, d, accumulate;
    float eps;
} mot_op_rmsnorm_backward;

typedef struct {
    mot_buf dy, x, dx;   /* [n, d]; dx overwritten */
    mot_buf dw, db;      /* [d]: +=; absent: not wanted */
    const float *weight; /* [d] or NULL (1) */
    int n, d;
    float eps;
} mot_op_layernorm_backward;

typedef struct {
    mot_buf dout, gate, up; /* [n, f] */
    mot_buf dgate, dup;     /* [n, f], overwritten (neither may alias dout) */
    int n, f;
} mot_op_swiglu_backward;

typedef struct {
    mot_buf dq, dk;      /* [n, n_heads, hd], [n, n_kv, hd] in place; either may be absent */
    int n, n_heads, n_kv, hd, pos0;
    const float *inv_freq; /* [hd / 2] */
} mot_op_rope_backward;

typedef struct {
    mot_buf dout, q;     /* [n, n_heads * hd] */
    mot_buf k, v;        /* [n, n_kv * hd]: rows of all heads (k after RoPE) */
    mot_buf dq, dk, dv;  /* as q, k, v; overwritten */
    int n, n_heads, n_kv, hd, window;
    float scale;
} mot_op_attention_backward;

typedef struct {
    mot_buf dout, q, dq; /* [n_q, d] (dq overwritten) */
    int n_q, d, heads;
    int n_seg;           /* 0 .. MOT_MAX_LANES segments (0: no speaker routed; dq = 0) */
    int seg_rows[MOT_MAX_LANES], seg_prompt[MOT_MAX_LANES]; /* its rows, and N_m of SPEC 1.4 */
    mot_buf seg_k[MOT_MAX_LANES], seg_v[MOT_MAX_LANES];     /* [seg_rows[m], d] */
    mot_buf seg_dk[MOT_MAX_LANES], seg_dv[MOT_MAX_LANES];   /* the same, overwritten */
} mot_op_cross_attention_backward;

typedef struct {
    mot_buf src, dst;    /* the same size (bytes: src.bytes); may not overlap */
} mot_op_copy;

typedef struct {
    mot_buf x, y;        /* [count] f32: y += x */
    int64_t count;
} mot_op_add;

/* Inverted dropout with a counter-based mask: element i is kept iff u_i >= p, u_i the
 * (i+1)-th draw of mot_splitmix64 from state `seed` (u = (z >> 11) 2^-53: the draws are
 * independent of one another, so any thread or block computes its own). The backward is the
 * same op on the gradient with the same seed. x and out may be the same buffer. */
typedef struct {
    mot_buf x, out;      /* [count] f32 */
    int64_t count;
    float p;             /* 0 <= p < 1 */
    uint64_t seed;
} mot_op_dropout;

typedef struct {
    mot_buf logits;      /* [n, vocab] */
    mot_buf targets;     /* int32 [n]; < 0: the row adds nothing */
    mot_buf dlogits;     /* [n, vocab] = scale (softmax - onehot), or absent: the loss only */
    mot_buf loss;        /* one double: the sum over the rows, in row order */
    int n, vocab;
    float scale;
} mot_op_cross_entropy;

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
    unsigned reads;    /* MOT_READS_*: the op table's reads for the kind */

    /* the op's weight matrices (MATMUL: W_j with bias_j, f32 [W_j.rows] or NULL; EMBED: the
     * table): host descriptors, the CUDA backend maps them */
    int n_w;
    const mot_weight *w[MOT_OP_MAX_W];
    const float *bias[MOT_OP_MAX_W];

    union { /* the member named as the kind (RMSNORM_LAST: rmsnorm) */
        mot_op_embed embed;
        mot_op_rmsnorm rmsnorm;
        mot_op_matmul matmul;
        mot_op_rmsnorm_matmul rmsnorm_matmul; /* and RMSNORM_MATMUL_SWIGLU, _ROPE_APPEND */
        mot_op_rope_append rope_append;
        mot_op_attention attention;
        mot_op_swiglu swiglu;
        mot_op_layernorm layernorm;
        mot_op_latent_append latent_append;
        mot_op_cross_attention cross_attention;
        mot_op_sample sample;
        mot_op_step_advance step_advance;
        mot_op_matmul_backward_x matmul_backward_x;
        mot_op_matmul_backward_w matmul_backward_w;
        mot_op_rmsnorm_backward rmsnorm_backward;
        mot_op_layernorm_backward layernorm_backward;
        mot_op_swiglu_backward swiglu_backward;
        mot_op_rope_backward rope_backward;
        mot_op_attention_backward attention_backward;
        mot_op_cross_attention_backward cross_attention_backward;
        mot_op_copy copy;
        mot_op_add add;
        mot_op_dropout dropout;
        mot_op_cross_entropy cross_entropy;
    };
} mot_plan_op;

/* The op's f32 host vectors (norm weights and biases, inv_freq) as pointers to its fields,
 * with their lengths in floats: what a backend with its own memory maps. Returns how many
 * (at most 2). */
int mot_plan_op_vectors(mot_plan_op *op, const float **field[2], int64_t len[2]);

/* The plan's fusions (scheduler/plan_fuse.c; the CPU executor fuses the same pairs at run time
 * in plans that keep them apart): whether norm (RMSNORM over all rows, or RMSNORM_LAST before
 * a single_row MATMUL) writes exactly the input mm (a MATMUL without accumulate) reads, and
 * whether sw is the SWIGLU of mm's two outputs (gate y[0], up y[1]). Static checks only: the
 * lanes and the order of the program are the caller's. */
int mot_plan_op_norm_feeds(const mot_plan_op *norm, const mot_plan_op *mm);
int mot_plan_op_swiglu_after(const mot_plan_op *mm, const mot_plan_op *sw);
/* and whether rp is the ROPE_APPEND of mm's three outputs (q y[0], k y[1], v y[2]), their
 * widths n_heads * hd, n_kv * hd, n_kv * hd. */
int mot_plan_op_rope_after(const mot_plan_op *mm, const mot_plan_op *rp);
/* The fused op: norm's place, kind, node and parameters of all (after: NULL for
 * RMSNORM_MATMUL; a SWIGLU, whose buffers are mm's outputs; a ROPE_APPEND). */
mot_plan_op mot_plan_op_fuse(const mot_plan_op *norm, const mot_plan_op *mm, const mot_plan_op *after);
/* The parts of a fused op as the plain ops they replace: part 0 the RMSNORM(_LAST), 1 the
 * MATMUL, 2 the SWIGLU or ROPE_APPEND (the kinds that have one). */
mot_plan_op mot_plan_op_part(const mot_plan_op *fused, int part);

const char *mot_op_kind_name(mot_op_kind k);
/* The step-varying values the kind reads (the op table's reads). */
unsigned mot_op_kind_reads(mot_op_kind k);
const char *mot_node_kind_name(mot_node_kind k);

#endif
