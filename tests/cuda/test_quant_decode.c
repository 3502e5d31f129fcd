/* The CUDA quantized kernels' decoding (kernels/cuda/quant_decode.h), run on the CPU: no GPU
 * needed, so the part of kernels/cuda/quant.cu that is plain arithmetic is checked on every
 * machine. Against ops/ref_quant.c:
 *   - block geometry: bytes and elements per block as common/tensor.c has them;
 *   - every piece of random rows (random f16 scales of any sign, subnormals included) decodes
 *     to the reference's floats bit for bit (what the embedding and the GEMM's tiles write);
 *   - the GEMV's staging: each 32-piece chunk of a row, copied in aligned 16-byte words from
 *     the boundary at or below it (rows of 34-, 18-, 210-byte blocks start anywhere), with the
 *     last word clamped at the end of the matrix, decodes to the same floats;
 *   - the GEMV's arithmetic, a (q . x) + b (sum x) per half of 16, lanes summed by the warp's
 *     butterfly, is within SPEC 1.7's 1e-4 of the float64 dot over the dequantized row. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "kernels/cuda/quant_decode.h"
#include "ops/ops.h"
#include "tests/ops/quant_blocks.h"

static int failures, checks;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t next_u32(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng >> 32);
}
static float uniform(void) { return (float)(next_u32() / 4294967296.0 * 2.0 - 1.0); }

/* Counts a check; prints the message (a printf format) when it fails. */
static void expect(int ok, const char *fmt, ...) {
    checks++;
    if (!ok) {
        failures++;
        va_list ap;
        va_start(ap, fmt);
        printf("FAIL ");
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
    }
}

static const mot_dtype types[] = {MOT_DTYPE_Q8_0, MOT_DTYPE_Q4_0, MOT_DTYPE_Q4_1, MOT_DTYPE_Q4_K,
                                  MOT_DTYPE_Q5_K, MOT_DTYPE_Q6_K, MOT_DTYPE_Q5_0, MOT_DTYPE_Q5_1,
                                  MOT_DTYPE_IQ4_NL, MOT_DTYPE_Q2_K, MOT_DTYPE_Q3_K, MOT_DTYPE_IQ4_XS};
enum { N_TYPES = sizeof types / sizeof types[0] };

/* rows x cols of dt as random bytes, 16-byte aligned (as cudaMalloc gives), with `wild` f16
 * fields of any finite value or, otherwise, scales that keep the values near [-1, 1]. */
static uint8_t *random_blocks(mot_dtype dt, int rows, int cols, int wild) {
    static uint64_t rng = 0xdec0u;
    const size_t bytes = mot_dtype_row_bytes(dt, cols) * (size_t)rows;
    uint8_t *p = aligned_alloc(16, (bytes + 15) / 16 * 16);
    quant_blocks_fill(dt, p, bytes, wild, &rng);
    return p;
}

static void test_geometry(void) {
    for (int i = 0; i < N_TYPES; i++) {
        const mot_dtype dt = types[i];
        const char *name = mot_dtype_name(dt);
        expect(mot_qblock_bytes(dt) == (int)mot_dtype_block_bytes(dt), "%s: block bytes %d, tensor.c %zu", name,
               mot_qblock_bytes(dt), mot_dtype_block_bytes(dt));
        expect(32 * mot_qpieces_per_block(dt) == mot_dtype_block_elems(dt), "%s: %d elements a block, tensor.c %d",
               name, 32 * mot_qpieces_per_block(dt), mot_dtype_block_elems(dt));
        /* the staging buffer holds the largest chunk at the worst skew */
        const long chunk = (long)mot_qpiece_byte(dt, 32);
        expect((chunk + 15 + 15) / 16 <= MOT_QCHUNK_MAX16 && MOT_QCHUNK_MAX16 <= 32 * MOT_QCHUNK_LOADS,
               "%s: a chunk of %ld bytes does not fit the stage of %d words", name, chunk, MOT_QCHUNK_MAX16);
    }
}

/* Every element of every row, decoded piece by piece, against the reference bit for bit. */
static void test_pieces(mot_dtype dt, int rows, int cols, int wild) {
    uint8_t *w = random_blocks(dt, rows, cols, wild);
    const size_t row_bytes = mot_dtype_row_bytes(dt, cols);
    float *ref = malloc(sizeof(float) * cols), *got = malloc(sizeof(float) * cols);
    int bad = 0;
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = w + r * row_bytes;
        mot_ref_dequant_row(dt, row, cols, ref);
        for (int p = 0; p < cols / 32; p++) {
            mot_qpiece pc;
            mot_qpiece_decode(dt, row + mot_qpiece_byte(dt, p), p % mot_qpieces_per_block(dt), &pc);
            for (int j = 0; j < 32; j++) {
                got[32 * p + j] = mot_qpiece_value(dt, &pc, j);
            }
        }
        bad += memcmp(got, ref, sizeof(float) * cols) != 0;
    }
    char what[96];
    snprintf(what, sizeof what, "%s pieces %dx%d%s", mot_dtype_name(dt), rows, cols, wild ? " (any f16 scales)" : "");
    expect(bad == 0, "%s: %d of %d rows differ from the reference", what, bad, rows);
    free(ref), free(got), free(w);
}

/* The GEMV (quant.cu quant_gemv_kernel) with its warp emulated: stage, decode, dot, reduce. */
static void test_gemv_model(mot_dtype dt, int rows, int cols, int n) {
    uint8_t *w = random_blocks(dt, rows, cols, 0);
    const size_t row_bytes = mot_dtype_row_bytes(dt, cols);
    const uint8_t *end = w + (size_t)rows * row_bytes;
    float *x = aligned_alloc(16, sizeof(float) * (size_t)n * cols), *deq = malloc(sizeof(float) * cols);
    for (size_t i = 0; i < (size_t)n * cols; i++) {
        x[i] = uniform();
    }
    const int64_t p_row = cols / 32, chunks = (p_row + 31) / 32;
    uint8_t stage[16 * MOT_QCHUNK_MAX16];
    double num = 0.0, den = 1e-30;
    int staged_bad = 0, layout_bad = 0;
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = w + r * row_bytes;
        mot_ref_dequant_row(dt, row, cols, deq);
        float acc[32][8] = {{0}};
        for (int64_t k = 0; k < chunks; k++) {
            const mot_qchunk c = mot_qchunk_of(dt, (uintptr_t)row, p_row, k);
            layout_bad += c.a0 % 16 != 0 || (const uint8_t *)c.a0 < w || c.n16 > MOT_QCHUNK_MAX16 || c.skew > 15;
            if (layout_bad) {
                break;
            }
            for (int i = 0; i < 16 * c.n16; i++) { /* load16: bytes past the matrix read as 0 */
                const uint8_t *p = (const uint8_t *)c.a0 + i;
                stage[i] = p < end ? *p : 0;
            }
            for (int l = 0; l < c.np; l++) {
                const int64_t p = 32 * k + l;
                const int at = mot_qchunk_piece_at(dt, &c, k, l);
                layout_bad += at + mot_qblock_bytes(dt) > 16 * c.n16;
                mot_qpiece pc;
                mot_qpiece_decode(dt, stage + at, (int)(p % mot_qpieces_per_block(dt)), &pc);
                for (int j = 0; j < 32; j++) {
                    staged_bad += memcmp(&deq[32 * p + j], &(float){mot_qpiece_value(dt, &pc, j)}, 4) != 0;
                }
                for (int t = 0; t < n; t++) {
                    const float *xp = x + (size_t)t * cols + 32 * p;
                    float qx[2] = {0, 0}, sx[2] = {0, 0};
                    for (int h = 0; h < 2; h++) {
                        for (int j = 0; j < 16; j++) {
                            qx[h] = fmaf(pc.q[16 * h + j], xp[16 * h + j], qx[h]);
                            sx[h] += xp[16 * h + j];
                        }
                    }
                    float v = fmaf(pc.a[0], qx[0], pc.a[1] * qx[1]);
                    if (mot_qhas_offset(dt)) {
                        v = fmaf(pc.b[0], sx[0], fmaf(pc.b[1], sx[1], v));
                    }
                    acc[l][t] += v;
                }
            }
        }
        for (int t = 0; t < n; t++) {
            float lanes[32];
            for (int l = 0; l < 32; l++) {
                lanes[l] = acc[l][t];
            }
            for (int off = 16; off > 0; off >>= 1) { /* mot_warp_sum's butterfly */
                float next[32];
                for (int l = 0; l < 32; l++) {
                    next[l] = lanes[l] + lanes[l ^ off];
                }
                memcpy(lanes, next, sizeof lanes);
            }
            double ref = 0.0;
            for (int c = 0; c < cols; c++) {
                ref += (double)deq[c] * x[(size_t)t * cols + c];
            }
            num = fmax(num, fabs(lanes[0] - ref));
            den = fmax(den, fabs(ref));
        }
    }
    char what[96];
    snprintf(what, sizeof what, "%s GEMV model %dx%d n=%d", mot_dtype_name(dt), rows, cols, n);
    expect(layout_bad == 0, "%s: %d staging plans out of bounds", what, layout_bad);
    expect(staged_bad == 0, "%s: %d staged elements differ from the reference", what, staged_bad);
    const double err = num / den;
    checks++;
    if (err > 1e-4 || !isfinite(err)) {
        failures++;
        printf("FAIL %s: normalized error %.3g (bound 1e-4)\n", what, err);
    } else {
        printf("ok   %s: normalized error %.3g\n", what, err);
    }
    free(w), free(x), free(deq);
}

int main(void) {
    test_geometry();
    for (int i = 0; i < N_TYPES; i++) {
        const mot_dtype dt = types[i];
        const int be = mot_dtype_block_elems(dt);
        test_pieces(dt, 7, 9 * be, 0);
        test_pieces(dt, 64, 3 * be, 1);
        /* one chunk, one piece past a chunk, several chunks; odd row counts */
        test_gemv_model(dt, 5, be, 1);
        test_gemv_model(dt, 7, be == 32 ? 33 * 32 : 5 * 256, 2);
        test_gemv_model(dt, 3, be == 32 ? 70 * 32 : 12 * 256, 5);
    }
    printf("%s (%d checks, %d failures)\n", failures ? "FAILED" : "all quant decode checks passed", checks, failures);
    return failures ? 1 : 0;
}
