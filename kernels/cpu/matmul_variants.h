/* The matmul implementations behind mot_cpu_matmul, exposed for the tests and the
 * benchmark. All compute y[n, rows] = x[n, cols] . W^T with f32 accumulation and open
 * their own OpenMP parallel region. */
#ifndef MOT_KERNELS_CPU_MATMUL_VARIANTS_H
#define MOT_KERNELS_CPU_MATMUL_VARIANTS_H

#include "kernels/cpu/kernels.h"

/* Memory-bound GEMV: each block of 4 weight rows is read once and meets all n tokens while
 * it is in L1/L2 (so small n costs about one pass over the weights). */
void mot_cpu_matmul_gemv(float *y, const float *x, const mot_weight *w, int n);
/* The same for several weights sharing x (same dtype and cols), in one parallel region. */
void mot_cpu_matmul_gemv_multi(const mot_matmul_job *jobs, int n_jobs, const float *x, int n);

/* Packed, cache-blocked AVX2 GEMM (4x24 FMA microkernel); weights are converted to f32
 * while packing so every dtype shares one microkernel. */
void mot_cpu_matmul_gemm(float *y, const float *x, const mot_weight *w, int n);

/* The same over block-quantized weights with int8 activations (`precision: fast`, AVX-512
 * VNNI; matmul_qgemm.c); mot_cpu_qgemm_fast_ok: whether the build has it for dt (without it
 * mot_cpu_matmul_qgemm_fast is the exact GEMM). */
void mot_cpu_matmul_qgemm_fast(float *y, const float *x, const mot_weight *w, int n);
int mot_cpu_qgemm_fast_ok(mot_dtype dt);

/* Straightforward parallel dot products (for comparison only). */
void mot_cpu_matmul_naive(float *y, const float *x, const mot_weight *w, int n);

/* cblas_sgemm; bf16/f16 weights are first converted to an f32 copy (its time included).
 * Returns 0 when the build has no BLAS, 1 when it computed y. */
int mot_cpu_matmul_blas(float *y, const float *x, const mot_weight *w, int n);

/* Rows [r0, r1) of thread `tid` of `nth` when rows are split in contiguous chunks whose
 * starts are multiples of `align`. */
static inline void mot_cpu_split_rows(int64_t rows, int64_t align, int tid, int nth, int64_t *r0,
                                      int64_t *r1) {
    int64_t blocks = (rows + align - 1) / align;
    int64_t b0 = blocks * tid / nth, b1 = blocks * (tid + 1) / nth;
    *r0 = b0 * align < rows ? b0 * align : rows;
    *r1 = b1 * align < rows ? b1 * align : rows;
}

#endif
