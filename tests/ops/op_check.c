#include "tests/ops/op_check.h"

#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"

void op_fill_random(float *x, size_t n, uint64_t *state) {
    for (size_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(*state >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
    }
}

int op_compare(const char *what, const float *out, const float *ref, size_t n, double scale_floor,
               double tol) {
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(out[i])) {
            printf("FAIL %s: out[%zu] = %g is not finite (ref %g)\n", what, i, out[i], ref[i]);
            return 0;
        }
    }
    double max_ref = 0.0, max_err = 0.0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)out[i] - (double)ref[i]);
        max_ref = fmax(max_ref, fabs((double)ref[i]));
        if (err > max_err) {
            max_err = err, worst = i;
        }
    }
    double norm_err = max_err / fmax(max_ref, scale_floor);
    if (norm_err > tol) {
        printf("FAIL %s: normalized error %.3g > %.3g (at %zu: got %.9g, ref %.9g)\n", what,
               norm_err, tol, worst, out[worst], ref[worst]);
        return 0;
    }
    return 1;
}

/* f16 from f32, round to nearest even, via the F16C instruction (the test machine has it;
 * only test data goes through here). */
static uint16_t f32_to_f16(float f) { return (uint16_t)_cvtss_sh(f, 0); }

void *op_make_buffer(mot_dtype dt, const float *values, size_t count, size_t offset, void **base) {
    size_t es = dt == MOT_DTYPE_F32 ? 4 : 2;
    char *mem = aligned_alloc(64, (count * es + offset + 63) / 64 * 64 + 64);
    if (!mem) {
        fprintf(stderr, "op_make_buffer: out of memory\n");
        exit(2);
    }
    char *data = mem + offset;
    for (size_t i = 0; i < count; i++) {
        if (dt == MOT_DTYPE_F32) {
            memcpy(data + i * 4, &values[i], 4);
        } else {
            uint16_t h = dt == MOT_DTYPE_F16 ? f32_to_f16(values[i]) : mot_f32_to_bf16(values[i]);
            memcpy(data + i * 2, &h, 2);
        }
    }
    *base = mem;
    return data;
}

void op_free_buffer(void *base) { free(base); }
