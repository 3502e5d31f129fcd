/* ggml's block-quantized weights on the CPU (kernels/cpu/quant_dot.c): the dot product of one
 * stored row with f32 activations, and a row dequantized to f32. Activations stay f32 (no
 * int8 activation quantization unless `precision: fast`, below), so a dot differs from the reference over the dequantized
 * weights only by f32 rounding. Types: every block type of common/tensor.h (ops/ref_quant.c
 * spells out their layouts; Q2_K and Q3_K's kernels are in quant_dot_k23.c). */
#ifndef MOT_KERNELS_CPU_QUANT_H
#define MOT_KERNELS_CPU_QUANT_H

#include <stdint.h>

#include "common/tensor.h"

/* Per-token sums of x over its 32-element blocks, which the dots of the types with an
 * offset (Q4_1's m, the K types' mins) use: sum_j (d q_j + m) x_j = d (q . x) + m sum_j x_j,
 * so the offset costs one multiply-add per block instead of one per element, and the sums
 * are computed once per token for every row. xs holds mot_cpu_quant_xsums_len(cols) floats
 * (zero past cols / 32, so vector loads over whole groups of 16 blocks are safe). */
int64_t mot_cpu_quant_xsums_len(int64_t cols);
void mot_cpu_quant_xsums(float *xs, const float *x, int64_t cols);

/* sum_c W[c] x[c] of one stored row of `cols` elements (a multiple of the block); xs: the
 * sums above for this x. The row may sit at any byte offset. */
typedef float mot_quant_dot_fn(const void *row, const float *x, const float *xs, int64_t cols);
/* The dot for dt (NULL when dt is not a block type). */
mot_quant_dot_fn *mot_cpu_quant_dot_fn(mot_dtype dt);

/* out[n] = the row as f32, bit for bit mot_ref_dequant_row (embedding rows, the GEMM's
 * packing). n a multiple of the block. */
void mot_cpu_dequant_row(mot_dtype dt, const void *row, int64_t n, float *out);

/* ---- precision: fast (activations quantized to int8; docs/decisions.md) -------------------
 * `precision: fast` (schedule key, `--precision fast`): matmuls over block-quantized weights
 * quantize each activation row once, per 32-element block, to int8 (llama.cpp's q8_0 for x:
 * d = max|x| / 127, q = round(x / d)) and take integer dot products of the weights' codes with
 * it (AVX-512 VNNI vpdpbusd where the build has it, AVX2 vpmaddubsw + vpmaddwd otherwise);
 * the integer part is exact, the scales are applied in f32 per (sub-)block. Default: exact. */
void mot_cpu_set_precision_fast(int fast);
int mot_cpu_precision_fast(void);

/* One activation row quantized: mot_cpu_q8x_len(cols) floats: d[L], ds[L] (L =
 * mot_cpu_quant_xsums_len(cols), zero past cols / 32; ds[b] = d[b] * sum of block b's codes),
 * then the cols int8 codes, then the same codes of each pair of blocks 2k, 2k+1 (k < cols /
 * 64) interleaved by halves, [2k: 0-15 | 2k+1: 0-15 | 2k: 16-31 | 2k+1: 16-31], which the 4-bit
 * types' dots read (kernels/cpu/quant_dot.c, q4_unit), then the sums per 16 elements, s16[i]
 * = d[i / 2] * the sum of codes 16 i .. 16 i + 15 (Q2_K's and Q3_K's offsets, k23_unit). */
int64_t mot_cpu_q8x_len(int64_t cols);
int64_t mot_cpu_q8x_sums16_at(int64_t cols); /* where s16 starts, in floats */
void mot_cpu_quantize_x(float *xq, const float *x, int64_t cols);
/* The integer-arithmetic dot of one stored row with a quantized x (NULL: no fast kernel). */
typedef float mot_quant_fdot_fn(const void *row, const float *xq, int64_t cols);
mot_quant_fdot_fn *mot_cpu_quant_fdot_fn(mot_dtype dt);
/* The same dot for the 4 rows row0 + k * stride (k < 4), read in lockstep: a group of blocks
 * of each row in turn, so that four streams are in flight from memory at once, as the read
 * probe reads (quant_gemv: lockstep, kernels/cpu/matmul_gemv.c). out[k] is bit for bit the
 * one-row dot of row k. NULL: no such kernel for dt. */
typedef void mot_quant_fdot4_fn(float out[4], const void *row0, int64_t stride, const float *xq, int64_t cols);
mot_quant_fdot4_fn *mot_cpu_quant_fdot4_fn(mot_dtype dt);

/* The integer form of a stored row, as the fast GEMM packs it: w_j = dw[s] q[j] + dm[s] for
 * the sub-block s = j / mot_cpu_quant_sub(dt) (16 for Q6_K, 32 otherwise), q signed int8,
 * qsum[s] = the sum of its codes (qsum NULL: not computed; the AVX2 GEMM has no use for it). */
int mot_cpu_quant_sub(mot_dtype dt);
void mot_cpu_quant_row_s8(mot_dtype dt, const void *row, int64_t cols, int8_t *q, float *dw, float *dm,
                          int32_t *qsum);

#endif
