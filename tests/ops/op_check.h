/* Helpers for comparing a kernel's output with the reference (ggml test-backend-ops style):
 * NaN/inf first, then a normalized error max|a - b| / max(max|ref|, scale_floor). scale_floor is
 * the size of the terms an output sums (1 for inputs in [-1, 1]), so an output that cancels
 * to ~0 does not turn an f32 rounding error into a huge ratio. */
#ifndef MOT_TESTS_OPS_OP_CHECK_H
#define MOT_TESTS_OPS_OP_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "common/tensor.h"

/* Deterministic pseudo-random floats in [-1, 1). */
void op_fill_random(float *x, size_t n, uint64_t *state);

/* Returns 1 when out matches ref within tol; otherwise prints "FAIL <what>: ..." with the
 * worst index and returns 0. */
int op_compare(const char *what, const float *out, const float *ref, size_t n, double scale_floor,
               double tol);

/* A buffer of `count` elements of dt whose data starts `offset` bytes (0 or 2) past a
 * 64-byte boundary, filled from f32 values (rounded to dt), so kernels see unaligned data.
 * The references read the same stored elements. Free with op_free_buffer(*base). */
void *op_make_buffer(mot_dtype dt, const float *values, size_t count, size_t offset, void **base);
void op_free_buffer(void *base);

#endif
