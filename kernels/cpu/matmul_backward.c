/* The linear's backward (kernels/cpu/backward.h): dx = dy . W through the frozen weight in its
 * stored dtype, and dw += dy^T x, db += colsum(dy) for the trainable f32 ones.
 *
 * Both are C[m, c] += sum_k A[m, k] B[k, c] with A read through two strides (dy as is for dx,
 * dy transposed for dw), so they share one register-tiled micro-kernel: 6 rows of C by 16
 * columns in 12 accumulators, one k at a time (2 loads of B, 6 broadcasts of A, 12 FMAs).
 *
 * Work split (deterministic, the same bits for any thread count): every element of the output
 * has one owner, an item of (row tile, column chunk), and its sum over k runs in one fixed
 * order (panel after panel, k ascending in each). Items are handed out dynamically: on a
 * shared machine a thread that is not scheduled does not hold up the others' items, and
 * which thread computes an item does not change its bits. Both run as team bodies
 * (kernels/cpu/team.h); the split of dx's items depends on the team size only. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/backward.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/team.h"
#include "kernels/cpu/thread_scratch.h"

/* PANEL rows of W dequantized at a time, COLS_MAX columns of them (a multiple of every block:
 * 32 and 256): a 64 x 256 f32 panel is 64 KiB (L2), and each 16-column strip of it (4 KiB)
 * stays in L1 while every token of the tile passes over it. TOKENS_MAX tokens share one
 * dequantized panel, so the conversion costs 1/TOKENS_MAX of the FMAs. */
enum { MR = 6, PANEL = 64, COLS_MAX = 256, TOKENS_MAX = 192 };

/* C[mt, 16] += A[mt, kn] B[kn, 16]: A[m, k] at a + m * sm + k * sk, B row k at b + k * ldb. */
MOT_INLINE void tile16(float *c, int64_t ldc, const float *a, int64_t sm, int64_t sk, const float *b, int64_t ldb,
                       int kn, int mt) {
    __m256 acc[MR][2];
    for (int m = 0; m < mt; m++) {
        acc[m][0] = _mm256_loadu_ps(c + m * ldc);
        acc[m][1] = _mm256_loadu_ps(c + m * ldc + 8);
    }
    for (int k = 0; k < kn; k++) {
        const __m256 b0 = _mm256_loadu_ps(b + k * ldb), b1 = _mm256_loadu_ps(b + k * ldb + 8);
        for (int m = 0; m < mt; m++) {
            const __m256 am = _mm256_broadcast_ss(a + m * sm + k * sk);
            acc[m][0] = _mm256_fmadd_ps(am, b0, acc[m][0]);
            acc[m][1] = _mm256_fmadd_ps(am, b1, acc[m][1]);
        }
    }
    for (int m = 0; m < mt; m++) {
        _mm256_storeu_ps(c + m * ldc, acc[m][0]);
        _mm256_storeu_ps(c + m * ldc + 8, acc[m][1]);
    }
}

/* C[mn, cn] += A[mn, kn] B[kn, cn] (strides as tile16). Column strips outer, so one strip of
 * B serves every row of C from L1; the last cn % 16 columns go scalar, in the same k order. */
static void gemm_acc(float *c, int64_t ldc, const float *a, int64_t sm, int64_t sk, const float *b, int64_t ldb,
                     int mn, int kn, int cn) {
    int j = 0;
    for (; j + 16 <= cn; j += 16) {
        int m = 0;
        for (; m + MR <= mn; m += MR) {
            tile16(c + m * ldc + j, ldc, a + m * sm, sm, sk, b + j, ldb, kn, MR);
        }
        switch (mn - m) { /* constant row counts, so each tail unrolls */
        case 5: tile16(c + m * ldc + j, ldc, a + m * sm, sm, sk, b + j, ldb, kn, 5); break;
        case 4: tile16(c + m * ldc + j, ldc, a + m * sm, sm, sk, b + j, ldb, kn, 4); break;
        case 3: tile16(c + m * ldc + j, ldc, a + m * sm, sm, sk, b + j, ldb, kn, 3); break;
        case 2: tile16(c + m * ldc + j, ldc, a + m * sm, sm, sk, b + j, ldb, kn, 2); break;
        case 1: tile16(c + m * ldc + j, ldc, a + m * sm, sm, sk, b + j, ldb, kn, 1); break;
        default: break;
        }
    }
    for (int m = 0; m < mn; m++) {
        for (int jj = j; jj < cn; jj++) {
            float s = c[m * ldc + jj];
            for (int k = 0; k < kn; k++) {
                s += a[m * sm + k * sk] * b[k * ldb + jj];
            }
            c[m * ldc + jj] = s;
        }
    }
}

/* out[r, 0 .. c1 - c0) = W[r0 + r, c0 .. c1) as f32 for r < nr (out row stride c1 - c0).
 * Quantized rows are cut at block boundaries (c0 a multiple of the block; c1 too, or cols). */
static void load_panel(float *out, const mot_weight *w, int64_t r0, int nr, int64_t c0, int64_t c1) {
    const mot_dtype dt = w->dtype;
    const int64_t len = c1 - c0;
    if (mot_dtype_is_quantized(dt)) {
        const size_t row_bytes = mot_dtype_row_bytes(dt, w->cols);
        const size_t skip = (size_t)(c0 / mot_dtype_block_elems(dt)) * mot_dtype_block_bytes(dt);
        for (int r = 0; r < nr; r++) {
            mot_cpu_dequant_row(dt, (const char *)w->data + (size_t)(r0 + r) * row_bytes + skip, len, out + r * len);
        }
        return;
    }
    const int64_t es = mot_weight_elem_size(dt);
    for (int r = 0; r < nr; r++) {
        const char *src = (const char *)w->data + ((r0 + r) * w->cols + c0) * es;
        float *o = out + r * len;
        int64_t i = 0;
        /* dt is one of three constants per branch, so each gets its own loop */
        if (dt == MOT_DTYPE_F32) {
            for (; i + 8 <= len; i += 8) {
                _mm256_storeu_ps(o + i, mot_load8(src, i, MOT_DTYPE_F32));
            }
        } else if (dt == MOT_DTYPE_F16) {
            for (; i + 8 <= len; i += 8) {
                _mm256_storeu_ps(o + i, mot_load8(src, i, MOT_DTYPE_F16));
            }
        } else {
            for (; i + 8 <= len; i += 8) {
                _mm256_storeu_ps(o + i, mot_load8(src, i, MOT_DTYPE_BF16));
            }
        }
        for (; i < len; i++) {
            o[i] = mot_load1(src, i, dt);
        }
    }
}

static mot_thread_scratch panel_scratch;

/* Column chunks of chunk columns, the last one shorter. */
static int64_t chunks_of(int64_t cols, int64_t chunk) { return (cols + chunk - 1) / chunk; }

/* dx's body (kernels/cpu/team.h): items of (token tile, column chunk) over the team. */
static void backward_x_team(float *dx, const float *dy, const mot_weight *w, int n, int accumulate, int64_t chunk,
                            int64_t n_chunks, int tile, int64_t items) {
    const int64_t rows = w->rows, cols = w->cols;
    /* the panel of W, then the tile's dy over the panel's rows [tile, PANEL]: packed, since
     * dy's rows lie rows * 4 bytes apart (8 KiB at 2048: every row on the same L1 sets) */
    float *panel =
        mot_thread_scratch_get(&panel_scratch, (size_t)(PANEL + tile) * (size_t)chunk + (size_t)PANEL * tile);
    float *dyp = panel ? panel + (size_t)PANEL * chunk : NULL;
    /* and the item's dx [tile, chunk], contiguous for the same reason as dy */
    float *acc = panel ? dyp + (size_t)PANEL * tile : NULL;
#pragma omp for schedule(dynamic, 1) /* items are independent: any order, same bits */
    for (int64_t item = 0; item < items; item++) {
        const int64_t c0 = item % n_chunks * chunk, c1 = c0 + chunk < cols ? c0 + chunk : cols;
        const int t0 = (int)(item / n_chunks) * tile, tn = n - t0 < tile ? n - t0 : tile;
        const int cn = (int)(c1 - c0);
        float *out = dx + (int64_t)t0 * cols + c0;
        if (!accumulate) {
            for (int t = 0; t < tn; t++) {
                memset(out + t * cols, 0, sizeof(float) * (size_t)cn);
            }
        }
        if (!panel) { /* out of memory: one row at a time through the stack */
            float row[COLS_MAX];
            for (int64_t r = 0; r < rows; r++) {
                load_panel(row, w, r, 1, c0, c1);
                gemm_acc(out, cols, dy + (int64_t)t0 * rows + r, rows, 1, row, cn, tn, 1, cn);
            }
            continue;
        }
        for (int t = 0; t < tn; t++) {
            memcpy(acc + t * cn, out + t * cols, sizeof(float) * (size_t)cn);
        }
        for (int64_t r0 = 0; r0 < rows; r0 += PANEL) {
            const int nr = rows - r0 < PANEL ? (int)(rows - r0) : PANEL;
            load_panel(panel, w, r0, nr, c0, c1);
            for (int t = 0; t < tn; t++) {
                memcpy(dyp + t * nr, dy + (int64_t)(t0 + t) * rows + r0, sizeof(float) * (size_t)nr);
            }
            /* dx[t, c] += sum_r dy[t, r] W[r, c]: A = the packed dy (sm = nr, sk = 1) */
            gemm_acc(acc, cn, dyp, nr, 1, panel, cn, tn, nr, cn);
        }
        for (int t = 0; t < tn; t++) {
            memcpy(out + t * cols, acc + t * cn, sizeof(float) * (size_t)cn);
        }
    }
}

void mot_cpu_matmul_backward_x(float *dx, const float *dy, const mot_weight *w, int n, int accumulate) {
    const int64_t cols = w->cols;
    if (n <= 0 || cols <= 0) {
        return;
    }
    const int threads = mot_team_size();
    /* Column chunks of at most COLS_MAX, equal up to whole blocks (576 = 3 x 192, not
     * 256 + 256 + 64), since a chunk is the unit a quantized row can be cut into. */
    const int64_t block = mot_dtype_block_elems(w->dtype), align = block > 16 ? block : 16;
    const int64_t n_chunks0 = chunks_of(cols, COLS_MAX);
    int64_t chunk = (chunks_of(cols, n_chunks0) + align - 1) / align * align;
    if (n < 4 * MR && chunks_of(cols, chunk) < threads) { /* few tokens: narrower chunks */
        const int64_t c = (chunks_of(cols, threads) + align - 1) / align * align;
        chunk = c < chunk ? c : chunk;
    }
    const int64_t n_chunks = chunks_of(cols, chunk);
    /* Token tiles as tall as allowed (each dequantizes the panels again), then more of them
     * until the items split evenly over the threads, as long as a tile keeps >= 4 MR tokens
     * (2 threads, n = 128, 576 columns: 3 chunks x 2 tiles of 64, not 3 items 2 : 1). */
    int n_tiles = (n + TOKENS_MAX - 1) / TOKENS_MAX;
    while ((n_chunks * n_tiles) % threads != 0 && (n + n_tiles) / (n_tiles + 1) >= 4 * MR) {
        n_tiles++;
    }
    const int tile = (n + n_tiles - 1) / n_tiles;
    n_tiles = (n + tile - 1) / tile;
    const int64_t items = n_chunks * n_tiles;
    MOT_TEAM_RUN(items > 1, backward_x_team(dx, dy, w, n, accumulate, chunk, n_chunks, tile, items));
}

enum { ROWS_ITEM = 8 * MR }; /* rows of dw in one item */

/* dw's body (kernels/cpu/team.h): the items of mot_cpu_matmul_backward_w, then db's rows. */
static void backward_w_team(float *dw, float *db, const float *dy, const float *x, int n, int rows, int cols,
                            int64_t n_cc, int64_t items) {
    float *xp = mot_thread_scratch_get(&panel_scratch, (size_t)PANEL * (COLS_MAX + ROWS_ITEM));
    float *dyp = xp ? xp + (size_t)PANEL * COLS_MAX : NULL;
#pragma omp for schedule(dynamic, 1) nowait /* items are independent: any order, same bits */
    for (int64_t item = 0; item < items; item++) {
        const int r0 = (int)(item / n_cc) * ROWS_ITEM, rn = rows - r0 < ROWS_ITEM ? rows - r0 : ROWS_ITEM;
        const int c0 = (int)(item % n_cc) * COLS_MAX, cn = cols - c0 < COLS_MAX ? cols - c0 : COLS_MAX;
        for (int t0 = 0; t0 < n; t0 += PANEL) {
            const int tn = n - t0 < PANEL ? n - t0 : PANEL;
            const float *a = dy + (int64_t)t0 * rows + r0, *b = x + (int64_t)t0 * cols + c0;
            int64_t sk = rows, ldb = cols;
            if (xp) {
                for (int t = 0; t < tn; t++) {
                    memcpy(xp + t * cn, b + (int64_t)t * cols, sizeof(float) * (size_t)cn);
                    memcpy(dyp + t * rn, a + (int64_t)t * rows, sizeof(float) * (size_t)rn);
                }
                a = dyp, b = xp, sk = rn, ldb = cn;
            }
            /* dw[r, c] += sum_t dy[t, r] x[t, c]: A = dy^T (sm = 1, sk = dy's row stride) */
            gemm_acc(dw + (int64_t)r0 * cols + c0, cols, a, 1, sk, b, ldb, rn, tn, cn);
        }
    }
    if (db) {
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            float s = db[r];
            for (int t = 0; t < n; t++) {
                s += dy[(int64_t)t * rows + r];
            }
            db[r] = s;
        }
    } else { /* the team's closing barrier: dw is complete when any thread returns */
#pragma omp barrier
    }
}

void mot_cpu_matmul_backward_w(float *dw, float *db, const float *dy, const float *x, int n, int rows,
                               int cols) {
    if (rows <= 0 || cols <= 0) {
        return;
    }
    /* Items: (48 rows of dw, 256 columns); the sum over tokens goes in PANEL-token panels of
     * x and dy packed contiguous (their rows lie cols or rows floats apart: at 2048, 8 KiB,
     * every row on the same L1 sets), which serve all 48 rows from L1. */
    const int64_t n_rc = (rows + ROWS_ITEM - 1) / ROWS_ITEM, n_cc = chunks_of(cols, COLS_MAX);
    const int64_t items = n_rc * n_cc;
    MOT_TEAM_RUN(items > 1 || rows > 1, backward_w_team(dw, db, dy, x, n, rows, cols, n_cc, items));
}
