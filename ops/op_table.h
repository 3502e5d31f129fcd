/* The op table: every plan op kind once. The enum (ops/plan_op.h), the names (traces, NVTX,
 * plan dumps), the CPU dispatcher (executor/cpu_ops.c) and the CUDA dispatcher
 * (kernels/cuda/gpu_api_cuda.cu) are generated from it, so adding an op is one row here plus its
 * pieces, each found by the op's name:
 *   - its parameters: the struct member of the same name in mot_plan_op (ops/plan_op.h);
 *   - its C reference (ops/ops.h, ops/ref_*.c), the oracle of every kernel;
 *   - its CPU kernel (kernels/cpu/kernels.h), run by cpu_run_<name> in executor/cpu_ops.c;
 *   - its CUDA op launch mot_cuda_op_<name> (kernels/cuda/op_launch.h, kernels/cuda/<file>.cu);
 *   - its test case "<name>" in tests/ops/test_backend_ops.c (every backend, every kind).
 * docs/architecture.md ("The ops, by name") has the same table with the files.
 *
 * X(KIND, name, reads, reference, cpu_kernel, cuda_launch, doc)
 *   KIND, name: MOT_OP_<KIND>, "<name>"
 *   reads:      the step-varying values it reads (MOT_READS_*, ops/step_state.h); the
 *               scheduler sets mot_plan_op.reads to these (tests/scheduler checks)
 *   doc:        what it computes, in the names of its parameters
 * Plain C, also compiled by nvcc. */
#ifndef MOT_OPS_OP_TABLE_H
#define MOT_OPS_OP_TABLE_H

#define MOT_OP_TABLE(X)                                                                                              \
    X(EMBED, embed, MOT_READS_N_NEW, mot_ref_embed_row, mot_cpu_embed_row, mot_cuda_op_embed,                        \
      "out[n, d] = table[tokens[t]], t < n (table: w[0], any dtype)")                                               \
    X(RMSNORM, rmsnorm, MOT_READS_N_NEW, mot_ref_rmsnorm, mot_cpu_rmsnorm, mot_cuda_op_rmsnorm,                      \
      "out[n, d] = rmsnorm(x[n, d]) * weight (HF LlamaRMSNorm)")                                                    \
    X(RMSNORM_LAST, rmsnorm_last, MOT_READS_N_NEW, mot_ref_rmsnorm, mot_cpu_rmsnorm, mot_cuda_op_rmsnorm_last,       \
      "out[0] = rmsnorm(x[n-1]) * weight: the last row only (before the LM head)")                                  \
    X(MATMUL, matmul, MOT_READS_N_NEW, mot_ref_linear, mot_cpu_matmul_multi, mot_cuda_op_matmul,                     \
      "y_j[rows, w_j.rows] = x[rows, cols] w_j^T (+ bias_j), j < n_w; accumulate: y_0 += (through scratch)")        \
    X(RMSNORM_MATMUL, rmsnorm_matmul, MOT_READS_N_NEW, mot_ref_norm_linear_swiglu, mot_cpu_matmul_gemv_fused,       \
      mot_cuda_op_rmsnorm_matmul,                                                                                    \
      "norm.out = rmsnorm(norm.x) * weight, then matmul over it (decode plans: RMSNORM(_LAST) + MATMUL fused)")     \
    X(RMSNORM_MATMUL_SWIGLU, rmsnorm_matmul_swiglu, MOT_READS_N_NEW, mot_ref_norm_linear_swiglu,                     \
      mot_cpu_matmul_gemv_fused, mot_cuda_op_rmsnorm_matmul_swiglu,                                                  \
      "rmsnorm_matmul on gate, up, then gate = silu(gate) * up (decode: RMSNORM + MATMUL + SWIGLU fused)")          \
    X(RMSNORM_MATMUL_ROPE_APPEND, rmsnorm_matmul_rope_append, MOT_READS_POS | MOT_READS_N_NEW,                      \
      mot_ref_norm_qkv_rope_append, mot_cpu_matmul_gemv_fused, mot_cuda_op_rmsnorm_matmul_rope_append,             \
      "rmsnorm_matmul on q, k, v, then rope_append (decode: RMSNORM + MATMUL + ROPE_APPEND fused)")               \
    X(ROPE_APPEND, rope_append, MOT_READS_POS | MOT_READS_N_NEW, mot_ref_rope_append, mot_cpu_rope_append,          \
      mot_cuda_op_rope_append, "RoPE on q, k in place at pos..pos+n-1, then k and v into the layer's KV cache")     \
    X(ATTENTION, attention, MOT_READS_POS | MOT_READS_N_NEW, mot_ref_attention, mot_cpu_attention,                  \
      mot_cuda_op_attention, "out[n, n_heads*hd] = causal GQA attention of q over the KV cache rows [0, pos+n)")    \
    X(SWIGLU, swiglu, MOT_READS_N_NEW, mot_ref_swiglu, mot_cpu_swiglu, mot_cuda_op_swiglu,                           \
      "gate[n, f] = silu(gate) * up")                                                                               \
    X(LAYERNORM, layernorm, MOT_READS_N_NEW, mot_ref_layernorm, mot_cpu_layernorm, mot_cuda_op_layernorm,            \
      "out[n, d] = layernorm(x) * weight + bias (PyTorch LayerNorm; NULL weight 1, bias 0)")                         \
    X(LATENT_APPEND, latent_append, MOT_READS_ROWS | MOT_READS_N_NEW, mot_ref_latent_append, mot_cpu_latent_append,  \
      mot_cuda_op_latent_append, "k, v [n, d] into the stack's latent caches at rows..rows+n-1")                    \
    X(CROSS_ATTENTION, cross_attention, MOT_READS_ROWS | MOT_READS_N_NEW | MOT_READS_PREFILL,                        \
      mot_ref_cross_attention, mot_cpu_cross_attention, mot_cuda_op_cross_attention,                                 \
      "out[n_q, d] = the primary's q over the speaking lanes' latent keys/values (SPEC 1.4 mask in prefill)")        \
    X(SAMPLE, sample, MOT_READS_N_NEW | MOT_READS_RNG, mot_ref_sample, mot_sample, mot_cuda_op_sample,               \
      "token = sample(logits[vocab]) into the step state and tokens[0]")                                            \
    X(STEP_ADVANCE, step_advance,                                                                                    \
      MOT_READS_POS | MOT_READS_N_NEW | MOT_READS_ROWS | MOT_READS_ALIVE | MOT_READS_TOKEN, mot_ref_step_advance,    \
      mot_ref_step_advance, mot_cuda_op_step_advance,                                                                \
      "every lane: pos, rows += n_new; alive &= !eos (non-primaries); n_new = alive; prefill = 0; step++")         \
    /* the training ops (SPEC 5; kernels/cpu/backward.h): static shapes, no step state */                         \
    X(MATMUL_BACKWARD_X, matmul_backward_x, 0, mot_ref_matmul_backward_x, mot_cpu_matmul_backward_x,                \
      mot_cuda_op_matmul_backward_x, "dx[n, w[0].cols] (+)= dy[n, w[0].rows] w[0] (any dtype, frozen)")           \
    X(MATMUL_BACKWARD_W, matmul_backward_w, 0, mot_ref_matmul_backward_w, mot_cpu_matmul_backward_w,                \
      mot_cuda_op_matmul_backward_w, "dw[rows, cols] += dy[n, rows]^T x[n, cols]; db[rows] += sum_t dy")          \
    X(RMSNORM_BACKWARD, rmsnorm_backward, 0, mot_ref_rmsnorm_backward, mot_cpu_rmsnorm_backward,                    \
      mot_cuda_op_rmsnorm_backward, "dx[n, d] (+)= the gradient of rmsnorm(x) * weight (weight frozen)")          \
    X(LAYERNORM_BACKWARD, layernorm_backward, 0, mot_ref_layernorm_backward, mot_cpu_layernorm_backward,            \
      mot_cuda_op_layernorm_backward, "dx[n, d] = the gradient of layernorm(x) * weight + bias; dw, db[d] +=")    \
    X(SWIGLU_BACKWARD, swiglu_backward, 0, mot_ref_swiglu_backward, mot_cpu_swiglu_backward,                        \
      mot_cuda_op_swiglu_backward, "dgate, dup[n, f] = the gradient of silu(gate) * up")                          \
    X(ROPE_BACKWARD, rope_backward, 0, mot_ref_rope_backward, mot_cpu_rope_backward, mot_cuda_op_rope_backward,     \
      "dq[n, n_heads, hd], dk[n, n_kv, hd] rotated back in place (positions pos0..)")                             \
    X(ATTENTION_BACKWARD, attention_backward, 0, mot_ref_attention_backward, mot_cpu_attention_backward,            \
      mot_cuda_op_attention_backward, "dq, dk, dv of causal GQA self-attention over n tokens at 0..n-1")          \
    X(CROSS_ATTENTION_BACKWARD, cross_attention_backward, 0, mot_ref_cross_attention_backward,                      \
      mot_cpu_cross_attention_backward, mot_cuda_op_cross_attention_backward,                                      \
      "dq[n_q, d] and each segment's dk, dv of the prefill cross-attention (SPEC 1.4 mask)")                      \
    X(COPY, copy, 0, mot_ref_copy, mot_cpu_copy, mot_cuda_op_copy,                                                  \
      "dst = src (bytes): the training tape's snapshots of a residual stream")                                     \
    X(ADD, add, 0, mot_ref_add, mot_cpu_add, mot_cuda_op_add,                                                       \
      "y[i] += x[i], i < count (a gradient reaching a tensor by two ways)")                                         \
    X(DROPOUT, dropout, 0, mot_ref_dropout, mot_cpu_dropout, mot_cuda_op_dropout,                                   \
      "out[i] = keep(seed, i) ? x[i] * (1 / (1 - p)) : 0, i < count (forward, and the same mask backward)")        \
    X(CROSS_ENTROPY, cross_entropy, 0, mot_ref_cross_entropy, mot_cpu_cross_entropy, mot_cuda_op_cross_entropy,     \
      "loss (double) = sum_t -log softmax(logits[t])[targets[t]]; dlogits = scale (softmax - onehot)")

#endif
