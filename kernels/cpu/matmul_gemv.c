/* Decode GEMV: y[rows] = W[rows, cols] . x[cols]. Memory bound: every weight byte is read
 * once, so the loop streams 4 rows at a time (4 independent read streams, 8 FMA
 * accumulators) and each thread takes one contiguous chunk of rows. */
#include <omp.h>

#include "kernels/cpu/matmul_variants.h"
#include "kernels/cpu/simd_load.h"

/* Dot products of 4 consecutive rows starting at w0 (row stride `stride` bytes) with x. */
MOT_INLINE void dot4(float *y, const float *x, const char *w0, int64_t stride, int64_t cols,
                     mot_dtype dt) {
    const char *w1 = w0 + stride, *w2 = w1 + stride, *w3 = w2 + stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        __m256 xa = _mm256_loadu_ps(x + c), xb = _mm256_loadu_ps(x + c + 8);
        a0 = _mm256_fmadd_ps(mot_load8(w0, c, dt), xa, a0);
        a1 = _mm256_fmadd_ps(mot_load8(w1, c, dt), xa, a1);
        a2 = _mm256_fmadd_ps(mot_load8(w2, c, dt), xa, a2);
        a3 = _mm256_fmadd_ps(mot_load8(w3, c, dt), xa, a3);
        b0 = _mm256_fmadd_ps(mot_load8(w0, c + 8, dt), xb, b0);
        b1 = _mm256_fmadd_ps(mot_load8(w1, c + 8, dt), xb, b1);
        b2 = _mm256_fmadd_ps(mot_load8(w2, c + 8, dt), xb, b2);
        b3 = _mm256_fmadd_ps(mot_load8(w3, c + 8, dt), xb, b3);
    }
    if (c + 8 <= cols) {
        __m256 xa = _mm256_loadu_ps(x + c);
        a0 = _mm256_fmadd_ps(mot_load8(w0, c, dt), xa, a0);
        a1 = _mm256_fmadd_ps(mot_load8(w1, c, dt), xa, a1);
        a2 = _mm256_fmadd_ps(mot_load8(w2, c, dt), xa, a2);
        a3 = _mm256_fmadd_ps(mot_load8(w3, c, dt), xa, a3);
        c += 8;
    }
    float s0 = mot_hsum8(_mm256_add_ps(a0, b0)), s1 = mot_hsum8(_mm256_add_ps(a1, b1));
    float s2 = mot_hsum8(_mm256_add_ps(a2, b2)), s3 = mot_hsum8(_mm256_add_ps(a3, b3));
    for (; c < cols; c++) {
        s0 += mot_load1(w0, c, dt) * x[c];
        s1 += mot_load1(w1, c, dt) * x[c];
        s2 += mot_load1(w2, c, dt) * x[c];
        s3 += mot_load1(w3, c, dt) * x[c];
    }
    y[0] = s0, y[1] = s1, y[2] = s2, y[3] = s3;
}

/* Dot product of one row with x (the rows left over after the blocks of 4). */
MOT_INLINE float dot1(const float *x, const char *w0, int64_t cols, mot_dtype dt) {
    __m256 a = _mm256_setzero_ps(), b = a;
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        a = _mm256_fmadd_ps(mot_load8(w0, c, dt), _mm256_loadu_ps(x + c), a);
        b = _mm256_fmadd_ps(mot_load8(w0, c + 8, dt), _mm256_loadu_ps(x + c + 8), b);
    }
    if (c + 8 <= cols) {
        a = _mm256_fmadd_ps(mot_load8(w0, c, dt), _mm256_loadu_ps(x + c), a);
        c += 8;
    }
    float s = mot_hsum8(_mm256_add_ps(a, b));
    for (; c < cols; c++) {
        s += mot_load1(w0, c, dt) * x[c];
    }
    return s;
}

/* y[r0..r1) for one token. */
MOT_INLINE void gemv_rows(float *y, const float *x, const mot_weight *w, int64_t r0, int64_t r1,
                          mot_dtype dt) {
    int64_t stride = w->cols * mot_weight_elem_size(dt);
    const char *base = (const char *)w->data;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        dot4(y + r, x, base + r * stride, stride, w->cols, dt);
    }
    for (; r < r1; r++) {
        y[r] = dot1(x, base + r * stride, w->cols, dt);
    }
}

/* One specialised (non-inlined) body per dtype. */
static void gemv_rows_f32(float *y, const float *x, const mot_weight *w, int64_t r0, int64_t r1) {
    gemv_rows(y, x, w, r0, r1, MOT_DTYPE_F32);
}
static void gemv_rows_f16(float *y, const float *x, const mot_weight *w, int64_t r0, int64_t r1) {
    gemv_rows(y, x, w, r0, r1, MOT_DTYPE_F16);
}
static void gemv_rows_bf16(float *y, const float *x, const mot_weight *w, int64_t r0, int64_t r1) {
    gemv_rows(y, x, w, r0, r1, MOT_DTYPE_BF16);
}

void mot_cpu_matmul_gemv(float *y, const float *x, const mot_weight *w, int n) {
    void (*rows_fn)(float *, const float *, const mot_weight *, int64_t, int64_t) =
        w->dtype == MOT_DTYPE_F32 ? gemv_rows_f32
        : w->dtype == MOT_DTYPE_F16 ? gemv_rows_f16
                                    : gemv_rows_bf16;
#pragma omp parallel
    {
        int64_t r0, r1;
        mot_cpu_split_rows(w->rows, 4, omp_get_thread_num(), omp_get_num_threads(), &r0, &r1);
        for (int t = 0; t < n; t++) {
            rows_fn(y + (int64_t)t * w->rows, x + (int64_t)t * w->cols, w, r0, r1);
        }
    }
}
