/* The CUDA backward kernels (kernels/cuda/cuda_backward.h) against the CPU ones
 * (kernels/cpu/backward.h, themselves checked against float64 finite differences and a float64
 * analytic backward in tests/train/test_backward_ops.c), on the same random inputs:
 *   - matmul_backward_x: every weight dtype (f32, f16, bf16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K,
 *     Q6_K), n = 1, 3, 17, 200, odd row counts, accumulate off (dx filled with NaN first: every
 *     element must be written) and on (onto a random prior), through a handle whose
 *     dequantization tile holds a few rows (many panels, a short last one) and one that holds
 *     the whole weight (one panel);
 *   - matmul_backward_w: += onto a random prior, with and without db, n past one column-sum
 *     chunk (64 rows);
 *   - rmsnorm (accumulate off / on), layernorm (w and dw / db present or NULL, a large mean,
 *     called twice: dw, db += and dx overwritten), swiglu (gates of +-120 too), rope (dq and
 *     dk, or one of them NULL);
 *   - attention: head dims of every register layout (20, 64, 100, 256), GQA 9/3, MHA 4/4,
 *     MQA 6/1, window 0 (none), 1 and 5;
 *   - cross-attention: 1-3 segments with prompts shorter and longer than the queries (so
 *     early queries see no key), rows past the prompt and short of it;
 *   - cross-entropy: rows without a target, with and without dlogits, vocab 7 .. 50000.
 * Bound: normalized max error max|gpu - cpu| / max|cpu| <= 1e-5 on every f32 output (both
 * sides accumulate in f32 or double, in different orders, so they differ by rounding only:
 * ~1e-7 relative to the largest element; a wrong mask, sign or term is O(1)); the
 * cross-entropy loss (double throughout) to 1e-12 relative. NaN or inf fails first.
 * matmul_backward_x, attention and cross-attention run a second time give the same bits, and
 * the loss without dlogits is the loss with them (no atomics, fixed reduction orders).
 * Needs a GPU: without one it says so and exits 77, which ctest reports as skipped. */
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "kernels/cpu/backward.h"
#include "kernels/cuda/cuda_backward.h"

static int failures, checks;
static cudaStream_t S;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static const double BOUND = 1e-5;

static uint64_t next_u64(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return rng >> 11;
}
static double urand(void) { return (double)(next_u64() >> 13) / (double)(1ULL << 40) * 2.0 - 1.0; }

static float *frand(size_t n, double scale) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(urand() * scale);
    }
    return x;
}

static float *fnan(size_t n) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        x[i] = NAN;
    }
    return x;
}

static void *dev(const void *host, size_t bytes) {
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 16) != cudaSuccess) {
        printf("FAIL: cudaMalloc %zu bytes\n", bytes);
        exit(1);
    }
    if (host && bytes) {
        cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice);
    }
    return p;
}

static void put(void *d, const void *host, size_t bytes) { cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice); }

static void get(void *host, const void *d, size_t bytes) {
    cudaError_t e = cudaStreamSynchronize(S);
    if (e != cudaSuccess) {
        printf("FAIL: stream: %s\n", cudaGetErrorString(e));
        exit(1);
    }
    cudaMemcpy(host, d, bytes, cudaMemcpyDeviceToHost);
}

static void call_ok(const char *what, mot_status st) {
    if (st != MOT_OK) {
        printf("FAIL %s: %s\n", what, mot_last_error());
        failures++;
    }
}

/* max|got - ref| / max|ref| (max|got - ref| when ref is all 0) against BOUND; NaN/inf fail. */
static void expect_close(const char *kernel, const char *what, const float *got, const float *ref, size_t n) {
    double e = 0.0, m = 0.0;
    checks++;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) || !isfinite(ref[i])) {
            printf("FAIL %s %s: non-finite value at %zu (gpu %g, cpu %g)\n", kernel, what, i, got[i], ref[i]);
            failures++;
            return;
        }
        e = fmax(e, fabs((double)got[i] - ref[i]));
        m = fmax(m, fabs((double)ref[i]));
    }
    const double err = m > 0.0 ? e / m : e;
    const int ok = err <= BOUND;
    printf("%s %s %s: normalized error %.3g (bound %.0g)\n", ok ? "ok  " : "FAIL", kernel, what, err, BOUND);
    failures += !ok;
}

static void expect_same(const char *kernel, const char *what, const float *a, const float *b, size_t n) {
    checks++;
    if (memcmp(a, b, sizeof(float) * n) != 0) {
        printf("FAIL %s %s: a second run gives other bits\n", kernel, what);
        failures++;
    }
}

/* ---- linear ------------------------------------------------------------------------------- */

static void put_f16(unsigned char *p, float v) {
    uint16_t h = mot_f32_to_f16(v);
    memcpy(p, &h, 2);
}

/* W [rows, cols] of dt on the host (random, values near [-1, 1]); *bytes its size. */
static void *make_weight(mot_dtype dt, int rows, int cols, size_t *bytes) {
    if (!mot_dtype_is_quantized(dt)) {
        const size_t n = (size_t)rows * cols, es = mot_dtype_size(dt);
        float *f = frand(n, 1.0);
        void *p = malloc(n * es);
        for (size_t i = 0; i < n; i++) {
            if (dt == MOT_DTYPE_F32) {
                ((float *)p)[i] = f[i];
            } else if (dt == MOT_DTYPE_F16) {
                ((uint16_t *)p)[i] = mot_f32_to_f16(f[i]);
            } else {
                ((uint16_t *)p)[i] = mot_f32_to_bf16(f[i]);
            }
        }
        free(f);
        *bytes = n * es;
        return p;
    }
    const size_t nb = mot_dtype_row_bytes(dt, cols) * (size_t)rows, bb = mot_dtype_block_bytes(dt);
    unsigned char *p = malloc(nb);
    for (size_t i = 0; i < nb; i++) {
        p[i] = (unsigned char)(next_u64() >> 17);
    }
    for (size_t b = 0; b < nb / bb; b++) {
        unsigned char *blk = p + b * bb;
        switch (dt) {
        case MOT_DTYPE_Q8_0: put_f16(blk, (float)urand() / 127.0f); break;
        case MOT_DTYPE_Q4_0: put_f16(blk, (float)urand() / 8.0f); break;
        case MOT_DTYPE_Q4_1: put_f16(blk, (float)urand() / 15.0f), put_f16(blk + 2, (float)urand()); break;
        case MOT_DTYPE_Q4_K: put_f16(blk, (float)urand() / 900.0f), put_f16(blk + 2, (float)urand() / 60.0f); break;
        case MOT_DTYPE_Q5_K: put_f16(blk, (float)urand() / 1900.0f), put_f16(blk + 2, (float)urand() / 60.0f); break;
        case MOT_DTYPE_Q6_K: put_f16(blk + 208, (float)urand() / 4000.0f); break;
        case MOT_DTYPE_Q5_0: put_f16(blk, (float)urand() / 16.0f); break;
        case MOT_DTYPE_Q5_1: put_f16(blk, (float)urand() / 31.0f), put_f16(blk + 2, (float)urand()); break;
        case MOT_DTYPE_IQ4_NL: put_f16(blk, (float)urand() / 127.0f); break;
        case MOT_DTYPE_Q2_K: put_f16(blk + 80, (float)urand() / 45.0f), put_f16(blk + 82, (float)urand() / 15.0f); break;
        case MOT_DTYPE_Q3_K: put_f16(blk + 108, (float)urand() / 128.0f); break;
        case MOT_DTYPE_IQ4_XS: put_f16(blk, (float)urand() / 4064.0f); break;
        default: break;
        }
    }
    *bytes = nb;
    return p;
}

static void case_backward_x(mot_cuda_blas *blas, const char *tile, mot_dtype dt, int n, int rows, int cols) {
    char what[128];
    snprintf(what, sizeof what, "%s n=%d rows=%d cols=%d tile=%s", mot_dtype_name(dt), n, rows, cols, tile);
    size_t wbytes;
    void *hw = make_weight(dt, rows, cols, &wbytes);
    const mot_weight w = {dt, hw, rows, cols};
    const mot_weight dw = {dt, dev(hw, wbytes), rows, cols};
    const size_t nx = (size_t)n * cols, ny = (size_t)n * rows;
    float *dy = frand(ny, 1.0), *prior = frand(nx, 1.0), *ref = malloc(sizeof(float) * nx), *got = fnan(nx),
          *again = malloc(sizeof(float) * nx);
    float *d_dy = dev(dy, ny * 4), *d_dx = dev(got, nx * 4);
    for (int acc = 0; acc < 2; acc++) {
        memcpy(ref, prior, nx * 4);
        mot_cpu_matmul_backward_x(ref, dy, &w, n, acc);
        if (acc) {
            put(d_dx, prior, nx * 4);
        }
        call_ok(what, mot_cuda_matmul_backward_x(blas, d_dx, d_dy, &dw, n, acc));
        get(got, d_dx, nx * 4);
        char w2[160];
        snprintf(w2, sizeof w2, "%s%s", what, acc ? " accumulate" : "");
        expect_close("matmul_backward_x", w2, got, ref, nx);
        if (!acc) {
            call_ok(what, mot_cuda_matmul_backward_x(blas, d_dx, d_dy, &dw, n, 0));
            get(again, d_dx, nx * 4);
            expect_same("matmul_backward_x", w2, got, again, nx);
        }
    }
    cudaFree((void *)dw.data), cudaFree(d_dy), cudaFree(d_dx);
    free(hw), free(dy), free(prior), free(ref), free(got), free(again);
}

static void case_backward_w(mot_cuda_blas *blas, int n, int rows, int cols, int with_bias) {
    char what[96];
    snprintf(what, sizeof what, "n=%d rows=%d cols=%d%s", n, rows, cols, with_bias ? " bias" : "");
    const size_t nw = (size_t)rows * cols;
    float *x = frand((size_t)n * cols, 1.0), *dy = frand((size_t)n * rows, 1.0);
    float *pw = frand(nw, 1.0), *pb = frand(rows, 1.0);
    float *rw = malloc(nw * 4), *rb = malloc((size_t)rows * 4), *gw = malloc(nw * 4), *gb = malloc((size_t)rows * 4);
    float *d_x = dev(x, (size_t)n * cols * 4), *d_dy = dev(dy, (size_t)n * rows * 4), *d_w = dev(pw, nw * 4),
          *d_b = dev(pb, (size_t)rows * 4);
    memcpy(rw, pw, nw * 4), memcpy(rb, pb, (size_t)rows * 4);
    mot_cpu_matmul_backward_w(rw, with_bias ? rb : NULL, dy, x, n, rows, cols);
    call_ok(what, mot_cuda_matmul_backward_w(blas, d_w, with_bias ? d_b : NULL, d_dy, d_x, n, rows, cols));
    get(gw, d_w, nw * 4);
    get(gb, d_b, (size_t)rows * 4);
    expect_close("matmul_backward_w", what, gw, rw, nw);
    expect_close("matmul_backward_w db", what, gb, rb, rows); /* unchanged without a bias */
    free(x), free(dy), free(pw), free(pb), free(rw), free(rb), free(gw), free(gb);
    cudaFree(d_x), cudaFree(d_dy), cudaFree(d_w), cudaFree(d_b);
}

/* ---- norms, SwiGLU, RoPE ------------------------------------------------------------------ */

static void case_rmsnorm(int n, int d, float eps) {
    char what[64];
    const size_t nx = (size_t)n * d;
    float *x = frand(nx, 2.0), *w = frand(d, 1.5), *dy = frand(nx, 1.0), *prior = frand(nx, 1.0);
    float *ref = malloc(nx * 4), *got = fnan(nx);
    float *d_x = dev(x, nx * 4), *d_w = dev(w, (size_t)d * 4), *d_dy = dev(dy, nx * 4), *d_dx = dev(got, nx * 4);
    for (int acc = 0; acc < 2; acc++) {
        snprintf(what, sizeof what, "n=%d d=%d%s", n, d, acc ? " accumulate" : "");
        memcpy(ref, prior, nx * 4);
        mot_cpu_rmsnorm_backward(ref, dy, x, w, n, d, eps, acc);
        if (acc) {
            put(d_dx, prior, nx * 4);
        }
        call_ok(what, mot_cuda_rmsnorm_backward(d_dx, d_dy, d_x, d_w, n, d, eps, acc, (mot_cuda_stream)S));
        get(got, d_dx, nx * 4);
        expect_close("rmsnorm_backward", what, got, ref, nx);
    }
    free(x), free(w), free(dy), free(prior), free(ref), free(got);
    cudaFree(d_x), cudaFree(d_w), cudaFree(d_dy), cudaFree(d_dx);
}

/* with: bit 0 w, bit 1 dw, bit 2 db */
static void case_layernorm(int n, int d, float eps, double offset, int with) {
    char what[96];
    snprintf(what, sizeof what, "n=%d d=%d offset=%g%s%s%s", n, d, offset, with & 1 ? " w" : "", with & 2 ? " dw" : "",
             with & 4 ? " db" : "");
    const size_t nx = (size_t)n * d;
    float *x = frand(nx, 2.0), *w = frand(d, 1.5), *dy = frand(nx, 1.0), *pw = frand(d, 1.0), *pb = frand(d, 1.0);
    for (size_t i = 0; i < nx; i++) {
        x[i] += (float)offset;
    }
    float *rx = malloc(nx * 4), *rw = malloc((size_t)d * 4), *rb = malloc((size_t)d * 4);
    float *gx = fnan(nx), *gw = malloc((size_t)d * 4), *gb = malloc((size_t)d * 4);
    float *d_x = dev(x, nx * 4), *d_w = dev(w, (size_t)d * 4), *d_dy = dev(dy, nx * 4), *d_dx = dev(gx, nx * 4),
          *d_dw = dev(pw, (size_t)d * 4), *d_db = dev(pb, (size_t)d * 4);
    memcpy(rw, pw, (size_t)d * 4), memcpy(rb, pb, (size_t)d * 4);
    for (int rep = 0; rep < 2; rep++) { /* twice: dw, db +=, dx overwritten */
        mot_cpu_layernorm_backward(rx, with & 2 ? rw : NULL, with & 4 ? rb : NULL, dy, x, with & 1 ? w : NULL, n, d,
                                   eps);
        call_ok(what, mot_cuda_layernorm_backward(d_dx, with & 2 ? d_dw : NULL, with & 4 ? d_db : NULL, d_dy, d_x,
                                                  with & 1 ? d_w : NULL, n, d, eps, (mot_cuda_stream)S));
    }
    get(gx, d_dx, nx * 4);
    get(gw, d_dw, (size_t)d * 4);
    get(gb, d_db, (size_t)d * 4);
    expect_close("layernorm_backward dx", what, gx, rx, nx);
    expect_close("layernorm_backward dw", what, gw, rw, d);
    expect_close("layernorm_backward db", what, gb, rb, d);
    free(x), free(w), free(dy), free(pw), free(pb), free(rx), free(rw), free(rb), free(gx), free(gw), free(gb);
    cudaFree(d_x), cudaFree(d_w), cudaFree(d_dy), cudaFree(d_dx), cudaFree(d_dw), cudaFree(d_db);
}

static void case_swiglu(int n, int f, double gate_scale) {
    char what[64];
    snprintf(what, sizeof what, "n=%d f=%d gate scale %g", n, f, gate_scale);
    const size_t cnt = (size_t)n * f;
    float *g = frand(cnt, gate_scale), *u = frand(cnt, 1.0), *o = frand(cnt, 1.0);
    g[0] = -120.0f;
    if (cnt > 1) {
        g[1] = 120.0f;
    }
    float *rg = malloc(cnt * 4), *ru = malloc(cnt * 4), *gg = fnan(cnt), *gu = fnan(cnt);
    float *d_g = dev(g, cnt * 4), *d_u = dev(u, cnt * 4), *d_o = dev(o, cnt * 4), *d_dg = dev(gg, cnt * 4),
          *d_du = dev(gu, cnt * 4);
    mot_cpu_swiglu_backward(rg, ru, o, g, u, n, f);
    call_ok(what, mot_cuda_swiglu_backward(d_dg, d_du, d_o, d_g, d_u, n, f, (mot_cuda_stream)S));
    get(gg, d_dg, cnt * 4);
    get(gu, d_du, cnt * 4);
    expect_close("swiglu_backward dgate", what, gg, rg, cnt);
    expect_close("swiglu_backward dup", what, gu, ru, cnt);
    free(g), free(u), free(o), free(rg), free(ru), free(gg), free(gu);
    cudaFree(d_g), cudaFree(d_u), cudaFree(d_o), cudaFree(d_dg), cudaFree(d_du);
}

/* which: 3 both, 1 dq only, 2 dk only */
static void case_rope(int n, int n_heads, int n_kv, int hd, int pos0, int which) {
    char what[96];
    snprintf(what, sizeof what, "n=%d heads=%d/%d hd=%d pos0=%d%s", n, n_heads, n_kv, hd, pos0,
             which == 1 ? " dq only" : which == 2 ? " dk only" : "");
    const int half = hd / 2;
    float *inv = malloc(sizeof(float) * (size_t)half);
    for (int i = 0; i < half; i++) {
        inv[i] = (float)pow(10000.0, -2.0 * i / hd);
    }
    const size_t nq = (size_t)n * n_heads * hd, nk = (size_t)n * n_kv * hd;
    float *q = frand(nq, 1.0), *k = frand(nk, 1.0), *rq = malloc(nq * 4), *rk = malloc(nk * 4), *gq = malloc(nq * 4),
          *gk = malloc(nk * 4);
    memcpy(rq, q, nq * 4), memcpy(rk, k, nk * 4);
    float *d_q = dev(q, nq * 4), *d_k = dev(k, nk * 4), *d_inv = dev(inv, (size_t)half * 4);
    mot_cpu_rope_backward(which & 1 ? rq : NULL, which & 2 ? rk : NULL, n, n_heads, n_kv, hd, pos0, inv);
    call_ok(what, mot_cuda_rope_backward(which & 1 ? d_q : NULL, which & 2 ? d_k : NULL, n, n_heads, n_kv, hd, pos0,
                                         d_inv, (mot_cuda_stream)S));
    get(gq, d_q, nq * 4);
    get(gk, d_k, nk * 4);
    expect_close("rope_backward dq", what, gq, rq, nq);
    expect_close("rope_backward dk", what, gk, rk, nk);
    free(inv), free(q), free(k), free(rq), free(rk), free(gq), free(gk);
    cudaFree(d_q), cudaFree(d_k), cudaFree(d_inv);
}

/* ---- attention ---------------------------------------------------------------------------- */

static void case_attention(int n, int heads, int kv, int hd, int window) {
    char what[96];
    snprintf(what, sizeof what, "n=%d heads=%d/%d hd=%d window=%d", n, heads, kv, hd, window);
    const size_t nq = (size_t)n * heads * hd, nk = (size_t)n * kv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    float *q = frand(nq, 2.0), *k = frand(nk, 2.0), *v = frand(nk, 1.0), *o = frand(nq, 1.0);
    float *rq = malloc(nq * 4), *rk = malloc(nk * 4), *rv = malloc(nk * 4);
    float *gq = fnan(nq), *gk = fnan(nk), *gv = fnan(nk), *aq = malloc(nq * 4), *ak = malloc(nk * 4),
          *av = malloc(nk * 4);
    float *d_q = dev(q, nq * 4), *d_k = dev(k, nk * 4), *d_v = dev(v, nk * 4), *d_o = dev(o, nq * 4),
          *d_dq = dev(gq, nq * 4), *d_dk = dev(gk, nk * 4), *d_dv = dev(gv, nk * 4);
    mot_cpu_attention_backward(rq, rk, rv, o, q, k, v, n, heads, kv, hd, window, scale);
    call_ok(what, mot_cuda_attention_backward(d_dq, d_dk, d_dv, d_o, d_q, d_k, d_v, n, heads, kv, hd, window, scale,
                                              (mot_cuda_stream)S));
    get(gq, d_dq, nq * 4), get(gk, d_dk, nk * 4), get(gv, d_dv, nk * 4);
    expect_close("attention_backward dq", what, gq, rq, nq);
    expect_close("attention_backward dk", what, gk, rk, nk);
    expect_close("attention_backward dv", what, gv, rv, nk);
    call_ok(what, mot_cuda_attention_backward(d_dq, d_dk, d_dv, d_o, d_q, d_k, d_v, n, heads, kv, hd, window, scale,
                                              (mot_cuda_stream)S));
    get(aq, d_dq, nq * 4), get(ak, d_dk, nk * 4), get(av, d_dv, nk * 4);
    expect_same("attention_backward dq", what, gq, aq, nq);
    expect_same("attention_backward dk", what, gk, ak, nk);
    expect_same("attention_backward dv", what, gv, av, nk);
    free(q), free(k), free(v), free(o), free(rq), free(rk), free(rv), free(gq), free(gk), free(gv);
    free(aq), free(ak), free(av);
    cudaFree(d_q), cudaFree(d_k), cudaFree(d_v), cudaFree(d_o), cudaFree(d_dq), cudaFree(d_dk), cudaFree(d_dv);
}

enum { MAX_SEG = 3 };

static void case_cross_attention(int n_q, int heads, int dh, int n_seg, const int *n_prompt, const int *rows) {
    char what[128];
    int len = snprintf(what, sizeof what, "n_q=%d heads=%d dh=%d segments", n_q, heads, dh);
    const int d_s = heads * dh;
    const size_t nq = (size_t)n_q * d_s;
    float *q = frand(nq, 2.0), *o = frand(nq, 1.0), *rq = malloc(nq * 4), *gq = fnan(nq);
    float *d_q = dev(q, nq * 4), *d_o = dev(o, nq * 4), *d_dq = dev(gq, nq * 4);
    float *k[MAX_SEG], *v[MAX_SEG], *rk[MAX_SEG], *rv[MAX_SEG], *gk[MAX_SEG], *gv[MAX_SEG];
    mot_kv_segment seg[MAX_SEG], dseg_in[MAX_SEG];
    mot_kv_segment_grad rseg[MAX_SEG], dgrad[MAX_SEG];
    for (int m = 0; m < n_seg; m++) {
        len += snprintf(what + len, sizeof what - len, " %d/%d", n_prompt[m], rows[m]);
        const size_t nk = (size_t)rows[m] * d_s;
        k[m] = frand(nk, 2.0), v[m] = frand(nk, 1.0), rk[m] = malloc(nk * 4 + 4), rv[m] = malloc(nk * 4 + 4);
        gk[m] = fnan(nk), gv[m] = fnan(nk);
        seg[m] = (mot_kv_segment){k[m], v[m], rows[m], n_prompt[m]};
        rseg[m] = (mot_kv_segment_grad){rk[m], rv[m]};
        dseg_in[m] = (mot_kv_segment){dev(k[m], nk * 4), dev(v[m], nk * 4), rows[m], n_prompt[m]};
        dgrad[m] = (mot_kv_segment_grad){dev(gk[m], nk * 4), dev(gv[m], nk * 4)};
    }
    mot_cpu_cross_attention_backward(rq, rseg, o, q, n_q, heads, d_s, seg, n_seg);
    call_ok(what, mot_cuda_cross_attention_backward(d_dq, dgrad, d_o, d_q, n_q, heads, d_s, dseg_in, n_seg,
                                                    (mot_cuda_stream)S));
    get(gq, d_dq, nq * 4);
    expect_close("cross_attention_backward dq", what, gq, rq, nq);
    for (int m = 0; m < n_seg; m++) {
        const size_t nk = (size_t)rows[m] * d_s;
        get(gk[m], dgrad[m].dk, nk * 4);
        get(gv[m], dgrad[m].dv, nk * 4);
        char w2[160];
        snprintf(w2, sizeof w2, "%s [segment %d]", what, m);
        expect_close("cross_attention_backward dk", w2, gk[m], rk[m], nk);
        expect_close("cross_attention_backward dv", w2, gv[m], rv[m], nk);
    }
    /* a second run: the same bits */
    float *aq = malloc(nq * 4 + 4);
    call_ok(what, mot_cuda_cross_attention_backward(d_dq, dgrad, d_o, d_q, n_q, heads, d_s, dseg_in, n_seg,
                                                    (mot_cuda_stream)S));
    get(aq, d_dq, nq * 4);
    expect_same("cross_attention_backward dq", what, gq, aq, nq);
    free(aq);
    for (int m = 0; m < n_seg; m++) {
        free(k[m]), free(v[m]), free(rk[m]), free(rv[m]), free(gk[m]), free(gv[m]);
        cudaFree((void *)dseg_in[m].k), cudaFree((void *)dseg_in[m].v), cudaFree(dgrad[m].dk), cudaFree(dgrad[m].dv);
    }
    free(q), free(o), free(rq), free(gq);
    cudaFree(d_q), cudaFree(d_o), cudaFree(d_dq);
}

/* ---- cross-entropy ------------------------------------------------------------------------ */

static void case_cross_entropy(int n, int vocab, float scale, double logit_scale) {
    char what[96];
    snprintf(what, sizeof what, "n=%d vocab=%d scale=%g logits*%g", n, vocab, scale, logit_scale);
    const size_t cnt = (size_t)n * vocab;
    float *l = frand(cnt, logit_scale), *ref = malloc(cnt * 4), *got = fnan(cnt);
    int *targets = malloc(sizeof(int) * (size_t)n);
    for (int t = 0; t < n; t++) {
        targets[t] = t % 4 == 2 ? -1 : (int)(next_u64() % (uint64_t)vocab);
    }
    float *d_l = dev(l, cnt * 4), *d_d = dev(got, cnt * 4);
    int *d_t = dev(targets, sizeof(int) * (size_t)n);
    double *d_loss = dev(NULL, sizeof(double)), loss = 0.0, loss2 = 0.0;
    const double want = mot_cpu_cross_entropy(ref, l, targets, n, vocab, scale);
    call_ok(what, mot_cuda_cross_entropy(d_loss, d_d, d_l, d_t, n, vocab, scale, (mot_cuda_stream)S));
    get(got, d_d, cnt * 4);
    get(&loss, d_loss, sizeof loss);
    expect_close("cross_entropy dlogits", what, got, ref, cnt);
    checks++;
    const double lerr = fabs(loss - want) / fmax(fabs(want), 1e-300);
    if (!(lerr <= 1e-12)) {
        printf("FAIL cross_entropy %s: loss %.17g, cpu %.17g\n", what, loss, want);
        failures++;
    } else {
        printf("ok   cross_entropy loss %s: relative error %.3g (bound 1e-12)\n", what, lerr);
    }
    /* without dlogits: the same loss, bit for bit */
    call_ok(what, mot_cuda_cross_entropy(d_loss, NULL, d_l, d_t, n, vocab, scale, (mot_cuda_stream)S));
    get(&loss2, d_loss, sizeof loss2);
    checks++;
    if (loss2 != loss) {
        printf("FAIL cross_entropy %s: the loss without dlogits differs (%.17g, %.17g)\n", what, loss2, loss);
        failures++;
    }
    free(l), free(ref), free(got), free(targets);
    cudaFree(d_l), cudaFree(d_d), cudaFree(d_t), cudaFree(d_loss);
}

int main(void) {
    if (mot_cuda_device_count() == 0) {
        printf("SKIP: no CUDA device on this machine; the CUDA backward kernels were built but not run\n");
        return 77;
    }
    char desc[256];
    mot_cuda_device_describe(0, desc, sizeof desc);
    printf("device: %s\n", desc);
    cudaStreamCreateWithFlags(&S, cudaStreamNonBlocking);
    /* two handles: a tile of a few rows (many panels, a short last one) and one that holds any
     * weight here whole (one panel) */
    mot_cuda_blas *small, *big;
    if (mot_cuda_blas_create((mot_cuda_stream)S, 4 << 20, &small) != MOT_OK ||
        mot_cuda_blas_create((mot_cuda_stream)S, 4 << 20, &big) != MOT_OK ||
        mot_cuda_blas_reserve_dequant(small, (size_t)3 * 768 * 4 + 16) != MOT_OK ||
        mot_cuda_blas_reserve_dequant(big, (size_t)128 * 768 * 4) != MOT_OK) {
        printf("FAIL: %s\n", mot_last_error());
        return 1;
    }

    static const mot_dtype dts[] = {MOT_DTYPE_F32,    MOT_DTYPE_F16,  MOT_DTYPE_BF16, MOT_DTYPE_Q8_0, MOT_DTYPE_Q4_0,
                                    MOT_DTYPE_Q4_1,   MOT_DTYPE_Q5_0, MOT_DTYPE_Q5_1, MOT_DTYPE_IQ4_NL, MOT_DTYPE_Q2_K,
                                    MOT_DTYPE_Q3_K,   MOT_DTYPE_Q4_K, MOT_DTYPE_Q5_K, MOT_DTYPE_Q6_K, MOT_DTYPE_IQ4_XS};
    static const int ns[] = {1, 3, 17, 200};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++) {
        const int block = mot_dtype_block_elems(dts[i]);
        const int cols_small = block == 1 ? 19 : block == 32 ? 96 : 256;
        const int cols_big = block == 1 ? 301 : block == 32 ? 544 : 768;
        for (int k = 0; k < 4; k++) {
            case_backward_x(small, "small", dts[i], ns[k], 37, cols_small);
            case_backward_x(big, "big", dts[i], ns[k], 70, cols_big);
        }
        case_backward_x(small, "small", dts[i], 17, 67, cols_big);
    }
    case_backward_x(big, "big", MOT_DTYPE_F32, 5, 3, 7);
    case_backward_x(big, "big", MOT_DTYPE_F32, 4, 0, 7); /* no rows: dx = 0, or unchanged */

    case_backward_w(big, 1, 5, 7, 1);
    case_backward_w(big, 3, 37, 19, 1);
    case_backward_w(big, 17, 70, 301, 0);
    case_backward_w(small, 130, 50, 40, 1);
    case_backward_w(big, 200, 67, 129, 1);

    for (int k = 0; k < 3; k++) {
        case_rmsnorm(ns[k], 7, 1e-6f);
        case_rmsnorm(ns[k], 301, 1e-5f);
    }
    case_rmsnorm(130, 1000, 1e-6f);
    for (int with = 0; with < 8; with++) {
        case_layernorm(3, 19, 1e-5f, 0.0, with);
    }
    case_layernorm(1, 7, 1e-5f, 0.0, 7);
    case_layernorm(17, 301, 1e-5f, 100.0, 7);
    case_layernorm(130, 1000, 1e-5f, 3.0, 7);
    case_layernorm(200, 33, 1e-5f, 0.0, 6);

    case_swiglu(1, 7, 8.0);
    case_swiglu(17, 301, 8.0);
    case_swiglu(130, 1000, 3.0);

    case_rope(1, 3, 1, 18, 0, 3);
    case_rope(17, 9, 3, 64, 5, 3);
    case_rope(33, 4, 2, 128, 1000, 3);
    case_rope(5, 2, 2, 256, 7, 1);
    case_rope(5, 6, 2, 20, 3, 2);

    static const int hds[] = {20, 64, 100, 256};
    for (int i = 0; i < 4; i++) {
        case_attention(1, 9, 3, hds[i], 0);
        case_attention(17, 9, 3, hds[i], 0);
        case_attention(17, 9, 3, hds[i], 5);
    }
    case_attention(70, 4, 4, 64, 0);
    case_attention(70, 6, 1, 32, 1);
    case_attention(70, 6, 1, 32, 16);
    case_attention(130, 8, 2, 128, 0);

    {
        const int p1[] = {10}, r1[] = {10};
        case_cross_attention(7, 3, 16, 1, p1, r1);
        const int p2[] = {4, 13}, r2[] = {5, 13};
        case_cross_attention(9, 2, 40, 2, p2, r2);
        const int p3[] = {3, 11, 20}, r3[] = {3, 14, 18};
        case_cross_attention(11, 3, 20, 3, p3, r3);
        case_cross_attention(1, 3, 130, 3, p3, r3);
        const int p4[] = {40, 2, 65}, r4[] = {40, 2, 70};
        case_cross_attention(33, 4, 64, 3, p4, r4);
        case_cross_attention(20, 2, 256, 2, p4, r4);
        const int p5[] = {2, 5}, r5[] = {2, 6}; /* queries 0 and 1 see no key at all */
        case_cross_attention(12, 3, 24, 2, p5, r5);
    }

    case_cross_entropy(1, 7, 1.0f, 1.0);
    case_cross_entropy(5, 1000, 0.25f, 4.0);
    case_cross_entropy(33, 50000, 1.0f / 33.0f, 10.0);
    case_cross_entropy(9, 301, 1.0f, 60.0);

    mot_cuda_blas_destroy(small);
    mot_cuda_blas_destroy(big);
    cudaStreamDestroy(S);
    printf("%d checks, %d failed: %s\n", checks, failures, failures ? "FAILED" : "all CUDA backward checks passed");
    return failures ? 1 : 0;
}
