/* The CUDA kernels for ggml's quantized weights (kernels/cuda/quant.cu) through the plan ops
 * and the real mot_gpu_api table, against ops/ref_quant.c:
 *   - MATMUL: every type x n = 1, 2, 5 (the GEMV) and 8, 64, 130 (dequantized tiles +
 *     SGEMM, on lane 0 with a tile of a few rows so that a weight takes many tiles and a
 *     short last one, on lane 1 with one tile), odd row counts, rows of one chunk of 32
 *     pieces, of a chunk and one piece, and of several chunks; accumulate and bias; against
 *     the float64 dot over mot_ref_dequant_row's rows, normalized error <= 1e-4 (SPEC 1.7);
 *     the GEMV twice gives the same bits (its reduction has a fixed order); all again with
 *     the lanes in precision fast, where n >= 8 runs on bf16 tiles and the tensor cores
 *     (normalized error <= 2e-2, SPEC 1.7's bf16 bound) and the GEMV is unchanged (1e-4);
 *   - EMBED: rows bit for bit mot_ref_dequant_row's, a token outside the table a zero row,
 *     rows past n_new untouched; and mot_cuda_embed_rows.
 * The weights are uploaded as their exact bytes (rows x row_bytes, as the backend does), so
 * the GEMV's clamped last word is exercised; run it under compute-sanitizer to see no read
 * leaves the allocation. The decoding itself is also checked without a GPU
 * (test_quant_decode.c). Needs a GPU: without one it exits 77 (skipped). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "ops/ops.h"
#include "tests/cuda/gpu_fixture.h"
#include "tests/ops/quant_blocks.h"

#define SENTINEL 7.25f

static gpu_fx F;
static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint32_t next_u32(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng >> 32);
}
static float uniform(void) { return (float)(next_u32() / 4294967296.0 * 2.0 - 1.0); }

static const mot_dtype types[] = {MOT_DTYPE_Q8_0, MOT_DTYPE_Q4_0, MOT_DTYPE_Q4_1, MOT_DTYPE_Q4_K,
                                  MOT_DTYPE_Q5_K, MOT_DTYPE_Q6_K, MOT_DTYPE_Q5_0, MOT_DTYPE_Q5_1,
                                  MOT_DTYPE_IQ4_NL, MOT_DTYPE_Q2_K, MOT_DTYPE_Q3_K, MOT_DTYPE_IQ4_XS};
enum { N_TYPES = sizeof types / sizeof types[0] };

/* rows x cols of dt: random quants, scales that keep the values near [-1, 1]. */
static uint8_t *random_blocks(mot_dtype dt, int rows, int cols) {
    static uint64_t rng = 0xc0dau;
    const size_t bytes = mot_dtype_row_bytes(dt, cols) * (size_t)rows;
    uint8_t *p = malloc(bytes);
    quant_blocks_fill(dt, p, bytes, 0, &rng);
    return p;
}

static mot_plan_op op_of(mot_op_kind kind, int lane) {
    mot_plan_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.lane = lane;
    op.layer = -1;
    op.stack = -1;
    return op;
}

static void set_lane(int lane, int n_new) {
    mot_step_state s;
    memset(&s, 0, sizeof s);
    s.n_lanes = lane + 1;
    s.lane[lane].n_new = n_new;
    s.lane[lane].alive = 1;
    gpu_fx_set_step(&F, &s);
}

/* max |got - ref| / max |ref| with ref in float64; NaN/inf fail. */
static void expect_close64(const char *what, const float *got, const double *ref, size_t n, double bound) {
    double num = 0.0, den = 1e-30;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            printf("FAIL %s: non-finite value at %zu\n", what, i);
            gpu_fx_failures++;
            return;
        }
        num = fmax(num, fabs((double)got[i] - ref[i]));
        den = fmax(den, fabs(ref[i]));
    }
    const double err = num / den;
    printf("%s %s: normalized error %.3g (bound %.0e)\n", err <= bound ? "ok  " : "FAIL", what, err, bound);
    gpu_fx_failures += err > bound;
}

/* The lanes' precision (gpu_fx_set_precision): fast GEMMs past the GEMV round x and the
 * dequantized tiles to bf16, so SPEC 1.7's bf16 bound; the GEMV keeps f32 x in both. */
static int fast;

/* One weight [rows, cols] of dt against every n; lane 0 has a small tile (many tiles). */
static void test_matmul(mot_dtype dt, int rows, int cols) {
    static const int ns[] = {1, 2, 5, 8, 64, 130};
    enum { MAX_N = 130 };
    uint8_t *blocks = random_blocks(dt, rows, cols);
    const size_t row_bytes = mot_dtype_row_bytes(dt, cols);
    const mot_weight hw = {dt, blocks, rows, cols};
    float *deq = malloc(sizeof(float) * (size_t)rows * cols), *x = malloc(sizeof(float) * (size_t)MAX_N * cols);
    float *y = malloc(sizeof(float) * (size_t)MAX_N * rows), *y0 = malloc(sizeof(float) * (size_t)MAX_N * rows);
    float *bias = malloc(sizeof(float) * rows);
    double *ref = malloc(sizeof(double) * (size_t)MAX_N * rows);
    for (int r = 0; r < rows; r++) {
        mot_ref_dequant_row(dt, blocks + r * row_bytes, cols, deq + (size_t)r * cols);
        bias[r] = uniform();
    }
    for (size_t i = 0; i < (size_t)MAX_N * cols; i++) x[i] = uniform();
    for (size_t i = 0; i < (size_t)MAX_N * rows; i++) y0[i] = uniform();
    const void *dw = gpu_fx_upload(&F, blocks, (size_t)rows * row_bytes); /* exact bytes, as the backend */
    const float *dbias = gpu_fx_upload(&F, bias, sizeof(float) * rows);
    mot_buf in = gpu_fx_buf(&F, sizeof(float) * (size_t)MAX_N * cols);
    mot_buf out = gpu_fx_buf(&F, sizeof(float) * (size_t)MAX_N * rows);
    gpu_fx_put(&F, in, x);

    for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
        const int n = ns[c];
        /* variants: 0 plain, 1 accumulate (y += x W^T), 2 with bias */
        for (int v = 0; v < 3; v++) {
            if (v > 0 && n != 2 && n != 64) {
                continue;
            }
            const int lane = (int)(c + v) % 2;
            mot_plan_op op = op_of(MOT_OP_MATMUL, lane);
            op.matmul.x = in;
            op.n_w = 1;
            op.matmul.y[0] = out;
            op.matmul.accumulate = v == 1;
            mot_gpu_launch l = gpu_fx_launch_of(&F, &op, n, MAX_N);
            l.w[0] = hw;
            l.w[0].data = dw;
            l.bias[0] = v == 2 ? dbias : NULL;
            set_lane(lane, n);
            gpu_fx_put(&F, out, y0);
            for (int t = 0; t < n; t++) {
                for (int r = 0; r < rows; r++) {
                    double s = v == 1 ? (double)y0[(size_t)t * rows + r] : v == 2 ? (double)bias[r] : 0.0;
                    for (int k = 0; k < cols; k++) s += (double)deq[(size_t)r * cols + k] * x[(size_t)t * cols + k];
                    ref[(size_t)t * rows + r] = s;
                }
            }
            char what[128];
            snprintf(what, sizeof what, "matmul %s %dx%d n=%d (%s%s, lane %d)", mot_dtype_name(dt), rows, cols, n,
                     n <= 7 ? "GEMV" : fast ? "bf16 tiles + tensor-core GEMM" : "tiles + SGEMM",
                     v == 1 ? ", accumulate" : v == 2 ? ", bias" : "", lane);
            if (gpu_fx_run(&F, &l, what)) {
                continue;
            }
            gpu_fx_get(&F, y, out);
            expect_close64(what, y, ref, (size_t)n * rows, n > 7 && fast ? 2e-2 : 1e-4);
            /* beyond row n: untouched */
            int untouched = memcmp(y + (size_t)n * rows, y0 + (size_t)n * rows,
                                   sizeof(float) * (size_t)(MAX_N - n) * rows) == 0;
            if (!untouched) {
                printf("FAIL %s: wrote past its %d rows\n", what, n);
                gpu_fx_failures++;
            }
            if (n == 1 && v == 0) { /* same bits again */
                float *again = malloc(sizeof(float) * (size_t)MAX_N * rows);
                gpu_fx_run(&F, &l, what);
                gpu_fx_get(&F, again, out);
                const int same = memcmp(again, y, sizeof(float) * rows) == 0;
                printf("%s %s: deterministic\n", same ? "ok  " : "FAIL", what);
                gpu_fx_failures += !same;
                free(again);
            }
        }
    }
    free(blocks), free(deq), free(x), free(y), free(y0), free(bias), free(ref);
}

static void test_embed(mot_dtype dt) {
    enum { VOCAB = 11, MAX_ROWS = 5 };
    const int cols = 3 * mot_dtype_block_elems(dt);
    const size_t row_bytes = mot_dtype_row_bytes(dt, cols);
    uint8_t *blocks = random_blocks(dt, VOCAB, cols);
    const int tokens[MAX_ROWS] = {10, 0, VOCAB + 3, 4, 7}; /* the third is outside the table */
    float *out = malloc(sizeof(float) * MAX_ROWS * cols), *ref = malloc(sizeof(float) * MAX_ROWS * cols);
    mot_buf tok = gpu_fx_buf(&F, sizeof tokens), x = gpu_fx_buf(&F, sizeof(float) * MAX_ROWS * cols);
    gpu_fx_put(&F, tok, tokens);
    gpu_fx_fill(&F, x, SENTINEL);
    mot_plan_op op = op_of(MOT_OP_EMBED, 1);
    op.embed.tokens = tok;
    op.embed.out = x;
    op.embed.d = cols;
    mot_gpu_launch l = gpu_fx_launch_of(&F, &op, 4, MAX_ROWS);
    l.w[0] = (mot_weight){dt, gpu_fx_upload(&F, blocks, (size_t)VOCAB * row_bytes), VOCAB, cols};
    l.vocab = VOCAB;
    set_lane(1, 4);
    char what[96];
    snprintf(what, sizeof what, "embed %s (4 of 5 rows, one token outside the table)", mot_dtype_name(dt));
    if (gpu_fx_run(&F, &l, what) == 0) {
        gpu_fx_get(&F, out, x);
        for (int t = 0; t < MAX_ROWS; t++) {
            float *r = ref + (size_t)t * cols;
            if (t >= 4) {
                for (int i = 0; i < cols; i++) r[i] = SENTINEL;
            } else if (tokens[t] >= VOCAB) {
                for (int i = 0; i < cols; i++) r[i] = 0.0f;
            } else {
                mot_ref_dequant_row(dt, blocks + tokens[t] * row_bytes, cols, r);
            }
        }
        fx_expect_equal(what, out, ref, (size_t)MAX_ROWS * cols);
    }
    /* mot_cuda_embed_rows (no step state): tokens 10, 0 */
    gpu_fx_fill(&F, x, SENTINEL);
    if (mot_cuda_embed_rows((float *)(F.arena + x.off), &l.w[0], (const int *)(F.arena + tok.off), 2,
                            (mot_cuda_stream)F.stream[0]) != MOT_OK) {
        printf("FAIL embed rows %s: %s\n", mot_dtype_name(dt), mot_last_error());
        gpu_fx_failures++;
    } else {
        gpu_fx_get(&F, out, x);
        for (int t = 0; t < 2; t++) mot_ref_dequant_row(dt, blocks + tokens[t] * row_bytes, cols, ref + (size_t)t * cols);
        snprintf(what, sizeof what, "mot_cuda_embed_rows %s", mot_dtype_name(dt));
        fx_expect_equal(what, out, ref, (size_t)2 * cols);
    }
    free(blocks), free(out), free(ref);
}

int main(void) {
    int rc = gpu_fx_init(&F, (size_t)64 << 20, 1 << 20); /* x of 130 x 4096 in bf16 (fast) */
    if (rc) {
        return rc;
    }
    char desc[256];
    mot_cuda_device_describe(0, desc, sizeof desc);
    printf("device: %s\n", desc);
    /* lane 0: a tile of 64 KiB (7 rows of 2304 floats: 43 tiles of a 301-row weight) */
    if (F.api.lane_create(F.api.ctx, 0, F.stream[0], F.max_gemm_elems, (size_t)64 << 10, 0)) {
        printf("FAIL lane_create with a small tile: %s\n", mot_last_error());
        return 1;
    }
    for (fast = 0; fast < 2; fast++) {
        if (fast) { /* again in precision fast, lane 0 with the small tile (14 bf16 rows of 2304) */
            gpu_fx_set_precision(&F, 1);
            if (F.api.lane_create(F.api.ctx, 0, F.stream[0], F.max_gemm_elems, (size_t)64 << 10, 1)) {
                printf("FAIL lane_create (fast) with a small tile: %s\n", mot_last_error());
                return 1;
            }
        }
        for (int i = 0; i < N_TYPES; i++) {
            const mot_dtype dt = types[i];
            if (mot_dtype_block_elems(dt) == 32) {
                test_matmul(dt, 37, 96);    /* 3 pieces: one short chunk */
                test_matmul(dt, 301, 1056); /* 33 pieces: a chunk and one piece */
                test_matmul(dt, 3, 4096);   /* 4 chunks */
            } else {
                test_matmul(dt, 37, 256);   /* 8 pieces */
                test_matmul(dt, 301, 2304); /* 72 pieces: 3 chunks, the last short */
            }
            if (!fast) test_embed(dt);
        }
    }
    gpu_fx_free(&F);
    printf("%s\n", gpu_fx_failures ? "FAILED" : "all CUDA quantized-weight checks passed");
    return gpu_fx_failures ? 1 : 0;
}
