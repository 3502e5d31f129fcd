/* mot_cpu_matmul: picks the implementation by the number of tokens.
 *
 * Measured (EPYC Zen 3, 2 threads, see tests/ops/bench_kernels.c and docs in the report):
 *   n == 1: the GEMV streams the weights at ~BW_PCT of the measured read bandwidth.
 *   n >= 2: the packed GEMM; see GEMM_NOTE below.
 */
#include "kernels/cpu/matmul_variants.h"

void mot_cpu_matmul(float *y, const float *x, const mot_weight *w, int n) {
    if (n <= 0) {
        return;
    }
    if (n == 1) {
        mot_cpu_matmul_gemv(y, x, w, n);
        return;
    }
    mot_cpu_matmul_gemm(y, x, w, n);
}
