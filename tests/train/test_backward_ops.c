/* The CPU backward kernels (kernels/cpu/backward.h) against double precision written here, not
 * from the kernels: for each op a plain double forward, the loss sum(dout * forward(x)) (a
 * random projection; cross-entropy is its own loss), and
 *   - central finite differences of that loss (h = 1e-6, in double) at a sample of inputs,
 *   - a plain double analytic backward over every element,
 * each held to a normalized max error max|got - want| / max|want| <= 1e-5 (f32 kernel against
 * double), NaN or inf anywhere failing first. Sizes are odd on purpose (n 1, 3, 17; d not a
 * multiple of 8; GQA 3 query heads per kv head; windows; 1-3 cross-attention segments longer
 * and shorter than the queries), every weight dtype for backward_x, accumulate on and off.
 *
 * Why the check can fail: a wrong gradient (a sign, a missing term, a wrong mask) differs from
 * both references by O(1) of the gradient's size, 1e4-1e5 times the bound; and the finite
 * differences share no code with the analytic references, so a mistake copied into both the
 * kernel and the test's own backward is still caught by them. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "kernels/cpu/backward.h"
#include "ops/ops.h"
#include "tests/ops/op_check.h"
#include "tests/ops/quant_blocks.h"

static int n_failed, n_run;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

enum { K_MMX, K_MMW, K_RMS, K_LN, K_SWIGLU, K_ROPE, K_ATTN, K_XATTN, K_CE, K_COUNT };
static const char *kernel_names[K_COUNT] = {"matmul_backward_x", "matmul_backward_w", "rmsnorm_backward",
                                            "layernorm_backward", "swiglu_backward",  "rope_backward",
                                            "attention_backward", "cross_attention_backward", "cross_entropy"};
static double worst_fd[K_COUNT], worst_an[K_COUNT];

static const double BOUND = 1e-5, FD_H = 1e-6;
enum { FD_SAMPLES = 40 };

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

static double *to_double(const float *x, size_t n) {
    double *d = malloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        d[i] = x[i];
    }
    return d;
}

static double *dzeros(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

/* max|got - want| / max|want| (max|got - want| when want is all 0); inf when got holds a NaN
 * or an inf. */
static double nerr(const float *got, const double *want, size_t n) {
    double e = 0.0, m = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            return INFINITY;
        }
        e = fmax(e, fabs(got[i] - want[i]));
        m = fmax(m, fabs(want[i]));
    }
    return m > 0.0 ? e / m : e;
}

static void expect(int kernel, int fd, const char *what, double err) {
    n_run++;
    double *worst = fd ? &worst_fd[kernel] : &worst_an[kernel];
    *worst = fmax(*worst, err);
    if (!(err <= BOUND)) {
        n_failed++;
        printf("FAIL %s %s (%s): normalized error %.3g > %.3g\n", kernel_names[kernel], what,
               fd ? "finite differences" : "analytic", err, BOUND);
    }
}

typedef double (*loss_fn)(const void *ctx);

/* The kernel's gradient got[count] of param against central differences of loss at up to
 * FD_SAMPLES elements (all when there are fewer); param is perturbed in place and restored. */
static void fd_check(int kernel, const char *what, loss_fn loss, const void *ctx, double *param, size_t count,
                     const float *got) {
    double e = 0.0, m = 0.0;
    for (size_t s = 0; s < (count < FD_SAMPLES ? count : FD_SAMPLES); s++) {
        const size_t i = count <= FD_SAMPLES ? s : next_u64() % count;
        const double v = param[i];
        param[i] = v + FD_H;
        const double lp = loss(ctx);
        param[i] = v - FD_H;
        const double lm = loss(ctx);
        param[i] = v;
        const double fd = (lp - lm) / (2 * FD_H);
        if (!isfinite(got[i])) {
            e = INFINITY;
        }
        e = fmax(e, fabs(got[i] - fd));
        m = fmax(m, fabs(fd));
    }
    expect(kernel, 1, what, m > 0.0 ? e / m : e);
}

static double dot_d(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += a[i] * b[i];
    }
    return s;
}

/* ---- linear: dx through every weight dtype ------------------------------------------------ */

/* Random blocks of dt with small f16 scales (values within about [-1, 1]), its data 2 bytes
 * past a 64-byte boundary (tests/ops/quant_blocks.c). Free *base. */
static mot_weight make_quant(mot_dtype dt, int64_t rows, int64_t cols, void **base) {
    static uint64_t rng = 0xbac4u;
    const size_t bytes = mot_dtype_row_bytes(dt, cols) * (size_t)rows;
    unsigned char *mem = aligned_alloc(64, (bytes + 2 + 63) / 64 * 64 + 64);
    quant_blocks_fill(dt, mem + 2, bytes, 0, &rng);
    *base = mem;
    return (mot_weight){dt, mem + 2, rows, cols};
}

/* W [rows, cols] as double, through ops' reference dequantization. */
static double *weight_double(const mot_weight *w) {
    double *d = malloc(sizeof(double) * (size_t)(w->rows * w->cols));
    float *row = malloc(sizeof(float) * (size_t)w->cols);
    for (int64_t r = 0; r < w->rows; r++) {
        if (mot_dtype_is_quantized(w->dtype)) {
            mot_ref_dequant_row(w->dtype, (const char *)w->data + (size_t)r * mot_dtype_row_bytes(w->dtype, w->cols),
                                w->cols, row);
        } else {
            mot_ref_embed_row(row, w, r);
        }
        for (int64_t c = 0; c < w->cols; c++) {
            d[r * w->cols + c] = row[c];
        }
    }
    free(row);
    return d;
}

typedef struct {
    double *x, *w, *b, *dy; /* x [n, cols], w [rows, cols], b [rows] or NULL, dy [n, rows] */
    int n, rows, cols;
} linear_ctx;

/* sum dy * (x W^T + b) */
static double linear_loss(const void *p) {
    const linear_ctx *c = p;
    double l = 0.0;
    for (int t = 0; t < c->n; t++) {
        for (int r = 0; r < c->rows; r++) {
            const double y = dot_d(c->x + (size_t)t * c->cols, c->w + (size_t)r * c->cols, c->cols) + (c->b ? c->b[r] : 0.0);
            l += c->dy[(size_t)t * c->rows + r] * y;
        }
    }
    return l;
}

static void case_backward_x(mot_dtype dt, int n, int rows, int cols) {
    char what[96];
    snprintf(what, sizeof what, "%s n=%d rows=%d cols=%d", mot_dtype_name(dt), n, rows, cols);
    void *base;
    mot_weight w;
    if (mot_dtype_is_quantized(dt)) {
        w = make_quant(dt, rows, cols, &base);
    } else {
        float *vals = frand((size_t)rows * cols, 1.0);
        w = (mot_weight){dt, op_make_buffer(dt, vals, (size_t)rows * cols, 2, &base), rows, cols};
        free(vals);
    }
    const size_t nx = (size_t)n * cols;
    float *dyf = frand((size_t)n * rows, 1.0), *xf = frand(nx, 1.0);
    linear_ctx c = {to_double(xf, nx), weight_double(&w), NULL, to_double(dyf, (size_t)n * rows), n, rows, cols};
    double *want = dzeros(nx);
    for (int t = 0; t < n; t++) {
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < cols; k++) {
                want[(size_t)t * cols + k] += c.dy[(size_t)t * rows + r] * c.w[(size_t)r * cols + k];
            }
        }
    }
    /* accumulate off over NaN: every element must be written */
    float *dx = malloc(sizeof(float) * nx);
    for (size_t i = 0; i < nx; i++) {
        dx[i] = NAN;
    }
    mot_cpu_matmul_backward_x(dx, dyf, &w, n, 0);
    expect(K_MMX, 0, what, nerr(dx, want, nx));
    if ((double)n * rows * cols <= 2e5) {
        fd_check(K_MMX, what, linear_loss, &c, c.x, nx, dx);
    }
    /* accumulate on: prior + gradient */
    float *prior = frand(nx, 1.0);
    memcpy(dx, prior, sizeof(float) * nx);
    mot_cpu_matmul_backward_x(dx, dyf, &w, n, 1);
    for (size_t i = 0; i < nx; i++) {
        want[i] += prior[i];
    }
    snprintf(what + strlen(what), sizeof what - strlen(what), " accumulate");
    expect(K_MMX, 0, what, nerr(dx, want, nx));
    free(dx), free(prior), free(want), free(dyf), free(xf), free(c.x), free(c.w), free(c.dy);
    op_free_buffer(base);
}

static void case_backward_w(int n, int rows, int cols, int with_bias) {
    char what[96];
    snprintf(what, sizeof what, "n=%d rows=%d cols=%d%s", n, rows, cols, with_bias ? " bias" : "");
    const size_t nw = (size_t)rows * cols;
    float *xf = frand((size_t)n * cols, 1.0), *dyf = frand((size_t)n * rows, 1.0), *wf = frand(nw, 1.0);
    float *bf = frand((size_t)rows, 1.0);
    linear_ctx c = {to_double(xf, (size_t)n * cols), to_double(wf, nw), with_bias ? to_double(bf, rows) : NULL,
                    to_double(dyf, (size_t)n * rows), n, rows, cols};
    double *want_w = dzeros(nw), *want_b = dzeros(rows);
    for (int t = 0; t < n; t++) {
        for (int r = 0; r < rows; r++) {
            want_b[r] += c.dy[(size_t)t * rows + r];
            for (int k = 0; k < cols; k++) {
                want_w[(size_t)r * cols + k] += c.dy[(size_t)t * rows + r] * c.x[(size_t)t * cols + k];
            }
        }
    }
    float *dw = calloc(nw, sizeof(float)), *db = calloc(rows, sizeof(float));
    mot_cpu_matmul_backward_w(dw, with_bias ? db : NULL, dyf, xf, n, rows, cols);
    expect(K_MMW, 0, what, nerr(dw, want_w, nw));
    fd_check(K_MMW, what, linear_loss, &c, c.w, nw, dw);
    if (with_bias) {
        expect(K_MMW, 0, what, nerr(db, want_b, rows));
        fd_check(K_MMW, what, linear_loss, &c, c.b, rows, db);
    }
    /* += onto what is there */
    float *pw = frand(nw, 1.0), *pb = frand(rows, 1.0);
    memcpy(dw, pw, sizeof(float) * nw), memcpy(db, pb, sizeof(float) * rows);
    mot_cpu_matmul_backward_w(dw, with_bias ? db : NULL, dyf, xf, n, rows, cols);
    for (size_t i = 0; i < nw; i++) {
        want_w[i] += pw[i];
    }
    for (int r = 0; r < rows; r++) {
        want_b[r] = with_bias ? want_b[r] + pb[r] : pb[r];
    }
    snprintf(what + strlen(what), sizeof what - strlen(what), " accumulate");
    expect(K_MMW, 0, what, nerr(dw, want_w, nw));
    expect(K_MMW, 0, what, nerr(db, want_b, rows));
    free(xf), free(dyf), free(wf), free(bf), free(c.x), free(c.w), free(c.b), free(c.dy);
    free(want_w), free(want_b), free(dw), free(db), free(pw), free(pb);
}

/* ---- norms -------------------------------------------------------------------------------- */

typedef struct {
    double *x, *w, *b, *dy; /* x, dy [n, d]; w, b [d] */
    int n, d;
    double eps;
} norm_ctx;

static double rmsnorm_loss(const void *p) {
    const norm_ctx *c = p;
    double l = 0.0;
    for (int t = 0; t < c->n; t++) {
        const double *x = c->x + (size_t)t * c->d;
        const double r = 1.0 / sqrt(dot_d(x, x, c->d) / c->d + c->eps);
        for (int i = 0; i < c->d; i++) {
            l += c->dy[(size_t)t * c->d + i] * x[i] * r * c->w[i];
        }
    }
    return l;
}

static void case_rmsnorm(int n, int d, float eps) {
    char what[64];
    snprintf(what, sizeof what, "n=%d d=%d", n, d);
    const size_t nx = (size_t)n * d;
    float *xf = frand(nx, 2.0), *wf = frand(d, 1.5), *dyf = frand(nx, 1.0);
    norm_ctx c = {to_double(xf, nx), to_double(wf, d), NULL, to_double(dyf, nx), n, d, eps};
    double *want = dzeros(nx);
    for (int t = 0; t < n; t++) {
        const double *x = c.x + (size_t)t * d, *g = c.dy + (size_t)t * d;
        const double r = 1.0 / sqrt(dot_d(x, x, d) / d + c.eps);
        double s = 0.0;
        for (int i = 0; i < d; i++) {
            s += g[i] * c.w[i] * x[i];
        }
        for (int i = 0; i < d; i++) {
            want[(size_t)t * d + i] = r * c.w[i] * g[i] - x[i] * r * r * r * s / d;
        }
    }
    float *dx = malloc(sizeof(float) * nx);
    for (size_t i = 0; i < nx; i++) {
        dx[i] = NAN;
    }
    mot_cpu_rmsnorm_backward(dx, dyf, xf, wf, n, d, eps, 0);
    expect(K_RMS, 0, what, nerr(dx, want, nx));
    fd_check(K_RMS, what, rmsnorm_loss, &c, c.x, nx, dx);
    float *prior = frand(nx, 1.0);
    memcpy(dx, prior, sizeof(float) * nx);
    mot_cpu_rmsnorm_backward(dx, dyf, xf, wf, n, d, eps, 1);
    for (size_t i = 0; i < nx; i++) {
        want[i] += prior[i];
    }
    snprintf(what + strlen(what), sizeof what - strlen(what), " accumulate");
    expect(K_RMS, 0, what, nerr(dx, want, nx));
    free(xf), free(wf), free(dyf), free(c.x), free(c.w), free(c.dy), free(want), free(dx), free(prior);
}

static double layernorm_loss(const void *p) {
    const norm_ctx *c = p;
    double l = 0.0;
    for (int t = 0; t < c->n; t++) {
        const double *x = c->x + (size_t)t * c->d;
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < c->d; i++) {
            mean += x[i] / c->d;
        }
        for (int i = 0; i < c->d; i++) {
            var += (x[i] - mean) * (x[i] - mean) / c->d;
        }
        for (int i = 0; i < c->d; i++) {
            l += c->dy[(size_t)t * c->d + i] * ((x[i] - mean) / sqrt(var + c->eps) * c->w[i] + c->b[i]);
        }
    }
    return l;
}

static void case_layernorm(int n, int d, float eps, double x_offset) {
    char what[64];
    snprintf(what, sizeof what, "n=%d d=%d offset=%g", n, d, x_offset);
    const size_t nx = (size_t)n * d;
    float *xf = frand(nx, 2.0), *wf = frand(d, 1.5), *bf = frand(d, 1.0), *dyf = frand(nx, 1.0);
    for (size_t i = 0; i < nx; i++) {
        xf[i] += (float)x_offset; /* a large mean: the centering must not cancel away the signal */
    }
    norm_ctx c = {to_double(xf, nx), to_double(wf, d), to_double(bf, d), to_double(dyf, nx), n, d, eps};
    double *want = dzeros(nx), *want_w = dzeros(d), *want_b = dzeros(d);
    for (int t = 0; t < n; t++) {
        const double *x = c.x + (size_t)t * d, *g = c.dy + (size_t)t * d;
        double mean = 0.0, var = 0.0, mg = 0.0, mgx = 0.0;
        for (int i = 0; i < d; i++) {
            mean += x[i] / d;
        }
        for (int i = 0; i < d; i++) {
            var += (x[i] - mean) * (x[i] - mean) / d;
        }
        const double r = 1.0 / sqrt(var + c.eps);
        for (int i = 0; i < d; i++) {
            mg += g[i] * c.w[i] / d;
            mgx += g[i] * c.w[i] * (x[i] - mean) * r / d;
            want_w[i] += g[i] * (x[i] - mean) * r;
            want_b[i] += g[i];
        }
        for (int i = 0; i < d; i++) {
            want[(size_t)t * d + i] = r * (g[i] * c.w[i] - mg - (x[i] - mean) * r * mgx);
        }
    }
    float *dx = malloc(sizeof(float) * nx), *dw = calloc(d, sizeof(float)), *db = calloc(d, sizeof(float));
    for (size_t i = 0; i < nx; i++) {
        dx[i] = NAN;
    }
    mot_cpu_layernorm_backward(dx, dw, db, dyf, xf, wf, n, d, eps);
    expect(K_LN, 0, what, nerr(dx, want, nx));
    expect(K_LN, 0, what, nerr(dw, want_w, d));
    expect(K_LN, 0, what, nerr(db, want_b, d));
    fd_check(K_LN, what, layernorm_loss, &c, c.x, nx, dx);
    fd_check(K_LN, what, layernorm_loss, &c, c.w, d, dw);
    fd_check(K_LN, what, layernorm_loss, &c, c.b, d, db);
    /* dw, db +=; dx overwritten again */
    mot_cpu_layernorm_backward(dx, dw, db, dyf, xf, wf, n, d, eps);
    for (int i = 0; i < d; i++) {
        want_w[i] *= 2, want_b[i] *= 2;
    }
    snprintf(what + strlen(what), sizeof what - strlen(what), " twice");
    expect(K_LN, 0, what, nerr(dx, want, nx));
    expect(K_LN, 0, what, nerr(dw, want_w, d));
    expect(K_LN, 0, what, nerr(db, want_b, d));
    free(xf), free(wf), free(bf), free(dyf), free(c.x), free(c.w), free(c.b), free(c.dy);
    free(want), free(want_w), free(want_b), free(dx), free(dw), free(db);
}

/* ---- SwiGLU ------------------------------------------------------------------------------- */

typedef struct {
    double *g, *u, *dout;
    size_t count;
} swiglu_ctx;

static double swiglu_loss(const void *p) {
    const swiglu_ctx *c = p;
    double l = 0.0;
    for (size_t i = 0; i < c->count; i++) {
        l += c->dout[i] * c->g[i] / (1.0 + exp(-c->g[i])) * c->u[i];
    }
    return l;
}

static void case_swiglu(int n, int f, double gate_scale) {
    char what[64];
    snprintf(what, sizeof what, "n=%d f=%d gate scale %g", n, f, gate_scale);
    const size_t cnt = (size_t)n * f;
    float *gf = frand(cnt, gate_scale), *uf = frand(cnt, 1.0), *of = frand(cnt, 1.0);
    gf[0] = -120.0f; /* exp(-g) overflows f32: the gradient is 0, not NaN */
    if (cnt > 1) {
        gf[1] = 120.0f;
    }
    swiglu_ctx c = {to_double(gf, cnt), to_double(uf, cnt), to_double(of, cnt), cnt};
    double *wg = dzeros(cnt), *wu = dzeros(cnt);
    for (size_t i = 0; i < cnt; i++) {
        const double g = c.g[i], s = 1.0 / (1.0 + exp(-g));
        wg[i] = c.dout[i] * c.u[i] * (s + g * s * (1.0 - s));
        wu[i] = c.dout[i] * g * s;
    }
    float *dg = malloc(sizeof(float) * cnt), *du = malloc(sizeof(float) * cnt);
    mot_cpu_swiglu_backward(dg, du, of, gf, uf, n, f);
    expect(K_SWIGLU, 0, what, nerr(dg, wg, cnt));
    expect(K_SWIGLU, 0, what, nerr(du, wu, cnt));
    fd_check(K_SWIGLU, what, swiglu_loss, &c, c.g, cnt, dg);
    fd_check(K_SWIGLU, what, swiglu_loss, &c, c.u, cnt, du);
    free(gf), free(uf), free(of), free(c.g), free(c.u), free(c.dout), free(wg), free(wu), free(dg), free(du);
}

/* ---- RoPE --------------------------------------------------------------------------------- */

typedef struct {
    double *x, *dout; /* [n, heads, hd] */
    const float *inv;
    int n, heads, hd, pos0;
} rope_ctx;

/* The angle as the forward takes it: the f32 product pos * inv_freq. */
static double rope_angle(int pos, float inv) { return (double)((float)pos * inv); }

static double rope_loss(const void *p) {
    const rope_ctx *c = p;
    const int half = c->hd / 2;
    double l = 0.0;
    for (int t = 0; t < c->n; t++) {
        for (int h = 0; h < c->heads; h++) {
            const size_t o = ((size_t)t * c->heads + h) * c->hd;
            for (int i = 0; i < half; i++) {
                const double a = rope_angle(c->pos0 + t, c->inv[i]), co = cos(a), si = sin(a);
                const double x0 = c->x[o + i], x1 = c->x[o + i + half];
                l += c->dout[o + i] * (x0 * co - x1 * si) + c->dout[o + i + half] * (x1 * co + x0 * si);
            }
        }
    }
    return l;
}

static void case_rope(int n, int n_heads, int n_kv, int hd, int pos0) {
    char what[80];
    snprintf(what, sizeof what, "n=%d heads=%d/%d hd=%d pos0=%d", n, n_heads, n_kv, hd, pos0);
    const int half = hd / 2;
    float *inv = malloc(sizeof(float) * (size_t)half);
    for (int i = 0; i < half; i++) {
        inv[i] = (float)pow(10000.0, -2.0 * i / hd);
    }
    const size_t nq = (size_t)n * n_heads * hd, nk = (size_t)n * n_kv * hd;
    float *qf = frand(nq, 1.0), *kf = frand(nk, 1.0), *gq = frand(nq, 1.0), *gk = frand(nk, 1.0);
    rope_ctx cq = {to_double(qf, nq), to_double(gq, nq), inv, n, n_heads, hd, pos0};
    rope_ctx ck = {to_double(kf, nk), to_double(gk, nk), inv, n, n_kv, hd, pos0};
    float *dq = malloc(sizeof(float) * nq), *dk = malloc(sizeof(float) * nk);
    memcpy(dq, gq, sizeof(float) * nq), memcpy(dk, gk, sizeof(float) * nk);
    mot_cpu_rope_backward(dq, dk, n, n_heads, n_kv, hd, pos0, inv);
    const rope_ctx *cs[2] = {&cq, &ck};
    float *got[2] = {dq, dk};
    for (int s = 0; s < 2; s++) {
        const rope_ctx *c = cs[s];
        const size_t cnt = (size_t)n * c->heads * hd;
        double *want = dzeros(cnt);
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < c->heads; h++) {
                const size_t o = ((size_t)t * c->heads + h) * hd;
                for (int i = 0; i < half; i++) {
                    const double a = rope_angle(pos0 + t, inv[i]), g0 = c->dout[o + i], g1 = c->dout[o + i + half];
                    want[o + i] = g0 * cos(a) + g1 * sin(a);
                    want[o + i + half] = g1 * cos(a) - g0 * sin(a);
                }
            }
        }
        expect(K_ROPE, 0, what, nerr(got[s], want, cnt));
        fd_check(K_ROPE, what, rope_loss, c, c->x, cnt, got[s]);
        free(want);
    }
    free(inv), free(qf), free(kf), free(gq), free(gk), free(cq.x), free(cq.dout), free(ck.x), free(ck.dout);
    free(dq), free(dk);
}

/* ---- causal GQA self-attention ------------------------------------------------------------ */

typedef struct {
    double *q, *k, *v, *dout; /* q, dout [n, H * hd]; k, v [n, KV * hd] */
    int n, heads, kv, hd, window;
    double scale;
} attn_ctx;

static int attn_sees(int p, int j, int window) { return j <= p && (window == 0 || p - j < window); }

/* P [n, n] of query head h (0 where masked) */
static void attn_probs(const attn_ctx *c, int h, double *P) {
    const int g = h / (c->heads / c->kv), qs = c->heads * c->hd, ks = c->kv * c->hd;
    for (int p = 0; p < c->n; p++) {
        double mx = -INFINITY, sum = 0.0;
        for (int j = 0; j < c->n; j++) {
            P[p * c->n + j] = -INFINITY;
            if (attn_sees(p, j, c->window)) {
                P[p * c->n + j] = c->scale * dot_d(c->q + p * qs + h * c->hd, c->k + j * ks + g * c->hd, c->hd);
                mx = fmax(mx, P[p * c->n + j]);
            }
        }
        for (int j = 0; j < c->n; j++) {
            P[p * c->n + j] = attn_sees(p, j, c->window) ? exp(P[p * c->n + j] - mx) : 0.0;
            sum += P[p * c->n + j];
        }
        for (int j = 0; j < c->n; j++) {
            P[p * c->n + j] /= sum;
        }
    }
}

static double attn_loss(const void *pc) {
    const attn_ctx *c = pc;
    const int qs = c->heads * c->hd, ks = c->kv * c->hd;
    double *P = malloc(sizeof(double) * (size_t)c->n * c->n), l = 0.0;
    for (int h = 0; h < c->heads; h++) {
        const int g = h / (c->heads / c->kv);
        attn_probs(c, h, P);
        for (int p = 0; p < c->n; p++) {
            for (int j = 0; j < c->n; j++) {
                l += P[p * c->n + j] * dot_d(c->dout + p * qs + h * c->hd, c->v + j * ks + g * c->hd, c->hd);
            }
        }
    }
    free(P);
    return l;
}

static void case_attention(int n, int heads, int kv, int hd, int window) {
    char what[80];
    snprintf(what, sizeof what, "n=%d heads=%d/%d hd=%d window=%d", n, heads, kv, hd, window);
    const size_t nq = (size_t)n * heads * hd, nk = (size_t)n * kv * hd;
    const int qs = heads * hd, ks = kv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    float *qf = frand(nq, 2.0), *kf = frand(nk, 2.0), *vf = frand(nk, 1.0), *of = frand(nq, 1.0);
    attn_ctx c = {to_double(qf, nq), to_double(kf, nk), to_double(vf, nk), to_double(of, nq), n, heads, kv, hd,
                  window, scale};
    double *wq = dzeros(nq), *wk = dzeros(nk), *wv = dzeros(nk), *P = malloc(sizeof(double) * (size_t)n * n);
    for (int h = 0; h < heads; h++) {
        const int g = h / (heads / kv);
        attn_probs(&c, h, P);
        for (int p = 0; p < n; p++) {
            const double *dout = c.dout + p * qs + h * hd;
            double D = 0.0;
            for (int j = 0; j < n; j++) {
                D += P[p * n + j] * dot_d(dout, c.v + j * ks + g * hd, hd);
            }
            for (int j = 0; j < n; j++) {
                const double pj = P[p * n + j];
                if (pj == 0.0) {
                    continue;
                }
                const double ds = pj * (dot_d(dout, c.v + j * ks + g * hd, hd) - D) * c.scale;
                for (int i = 0; i < hd; i++) {
                    wq[p * qs + h * hd + i] += ds * c.k[j * ks + g * hd + i];
                    wk[j * ks + g * hd + i] += ds * c.q[p * qs + h * hd + i];
                    wv[j * ks + g * hd + i] += pj * dout[i];
                }
            }
        }
    }
    float *dq = malloc(sizeof(float) * nq), *dk = malloc(sizeof(float) * nk), *dv = malloc(sizeof(float) * nk);
    for (size_t i = 0; i < nq; i++) {
        dq[i] = NAN;
    }
    for (size_t i = 0; i < nk; i++) {
        dk[i] = dv[i] = NAN;
    }
    mot_cpu_attention_backward(dq, dk, dv, of, qf, kf, vf, n, heads, kv, hd, window, scale);
    expect(K_ATTN, 0, what, nerr(dq, wq, nq));
    expect(K_ATTN, 0, what, nerr(dk, wk, nk));
    expect(K_ATTN, 0, what, nerr(dv, wv, nk));
    fd_check(K_ATTN, what, attn_loss, &c, c.q, nq, dq);
    fd_check(K_ATTN, what, attn_loss, &c, c.k, nk, dk);
    fd_check(K_ATTN, what, attn_loss, &c, c.v, nk, dv);
    free(qf), free(kf), free(vf), free(of), free(c.q), free(c.k), free(c.v), free(c.dout);
    free(wq), free(wk), free(wv), free(P), free(dq), free(dk), free(dv);
}

/* ---- cross-attention (prefill) ------------------------------------------------------------- */

enum { MAX_SEG = 3 };

typedef struct {
    double *q, *dout; /* [n_q, d_s] */
    double *k[MAX_SEG], *v[MAX_SEG]; /* [rows_m, d_s] */
    int rows[MAX_SEG], n_prompt[MAX_SEG];
    int n_q, heads, d_s, n_seg;
} xattn_ctx;

/* SPEC 1.4, literally: query i sees key j of segment m iff ceil((j+1) n_q / N_m) - 1 <= i. */
static int xattn_sees(const xattn_ctx *c, int m, int i, int j) {
    const long long a = (long long)(j + 1) * c->n_q, ceil_div = (a + c->n_prompt[m] - 1) / c->n_prompt[m];
    return j < c->rows[m] && ceil_div - 1 <= i;
}

/* P over the concatenated keys of query i, head h (0 where masked); returns whether any key
 * is visible. */
static int xattn_probs(const xattn_ctx *c, int i, int h, double *P) {
    const int dh = c->d_s / c->heads;
    const double scale = 1.0 / sqrt((double)dh);
    double mx = -INFINITY, sum = 0.0;
    for (int m = 0, at = 0; m < c->n_seg; at += c->rows[m], m++) {
        for (int j = 0; j < c->rows[m]; j++) {
            P[at + j] = xattn_sees(c, m, i, j) ? scale * dot_d(c->q + i * c->d_s + h * dh, c->k[m] + j * c->d_s + h * dh, dh)
                                               : -INFINITY;
            mx = fmax(mx, P[at + j]);
        }
    }
    if (mx == -INFINITY) {
        return 0;
    }
    for (int m = 0, at = 0; m < c->n_seg; at += c->rows[m], m++) {
        for (int j = 0; j < c->rows[m]; j++) {
            P[at + j] = xattn_sees(c, m, i, j) ? exp(P[at + j] - mx) : 0.0;
            sum += P[at + j];
        }
    }
    for (int m = 0, at = 0; m < c->n_seg; at += c->rows[m], m++) {
        for (int j = 0; j < c->rows[m]; j++) {
            P[at + j] /= sum;
        }
    }
    return 1;
}

static double xattn_loss(const void *pc) {
    const xattn_ctx *c = pc;
    const int dh = c->d_s / c->heads;
    double P[256], l = 0.0;
    for (int i = 0; i < c->n_q; i++) {
        for (int h = 0; h < c->heads; h++) {
            if (!xattn_probs(c, i, h, P)) {
                continue; /* output 0 */
            }
            for (int m = 0, at = 0; m < c->n_seg; at += c->rows[m], m++) {
                for (int j = 0; j < c->rows[m]; j++) {
                    l += P[at + j] * dot_d(c->dout + i * c->d_s + h * dh, c->v[m] + j * c->d_s + h * dh, dh);
                }
            }
        }
    }
    return l;
}

static void case_cross_attention(int n_q, int heads, int dh, int n_seg, const int *n_prompt, const int *rows) {
    char what[128];
    int len = snprintf(what, sizeof what, "n_q=%d heads=%d dh=%d segments", n_q, heads, dh);
    const int d_s = heads * dh;
    xattn_ctx c = {0};
    c.n_q = n_q, c.heads = heads, c.d_s = d_s, c.n_seg = n_seg;
    const size_t nq = (size_t)n_q * d_s;
    float *qf = frand(nq, 2.0), *of = frand(nq, 1.0), *kf[MAX_SEG], *vf[MAX_SEG];
    mot_kv_segment seg[MAX_SEG];
    mot_kv_segment_grad dseg[MAX_SEG];
    double *wk[MAX_SEG], *wv[MAX_SEG];
    for (int m = 0; m < n_seg; m++) {
        len += snprintf(what + len, sizeof what - len, " %d/%d", n_prompt[m], rows[m]);
        const size_t nk = (size_t)rows[m] * d_s;
        kf[m] = frand(nk, 2.0), vf[m] = frand(nk, 1.0);
        c.k[m] = to_double(kf[m], nk), c.v[m] = to_double(vf[m], nk);
        c.rows[m] = rows[m], c.n_prompt[m] = n_prompt[m];
        seg[m] = (mot_kv_segment){kf[m], vf[m], rows[m], n_prompt[m]};
        dseg[m].dk = malloc(sizeof(float) * nk), dseg[m].dv = malloc(sizeof(float) * nk);
        for (size_t i = 0; i < nk; i++) {
            dseg[m].dk[i] = dseg[m].dv[i] = NAN;
        }
        wk[m] = dzeros(nk), wv[m] = dzeros(nk);
    }
    c.q = to_double(qf, nq), c.dout = to_double(of, nq);
    double *wq = dzeros(nq), P[256];
    for (int i = 0; i < n_q; i++) {
        for (int h = 0; h < heads; h++) {
            if (!xattn_probs(&c, i, h, P)) {
                continue;
            }
            const double *dout = c.dout + i * d_s + h * dh, scale = 1.0 / sqrt((double)dh);
            double D = 0.0;
            for (int m = 0, at = 0; m < n_seg; at += rows[m], m++) {
                for (int j = 0; j < rows[m]; j++) {
                    D += P[at + j] * dot_d(dout, c.v[m] + j * d_s + h * dh, dh);
                }
            }
            for (int m = 0, at = 0; m < n_seg; at += rows[m], m++) {
                for (int j = 0; j < rows[m]; j++) {
                    const double pj = P[at + j], ds = pj * (dot_d(dout, c.v[m] + j * d_s + h * dh, dh) - D) * scale;
                    for (int e = 0; e < dh; e++) {
                        wq[i * d_s + h * dh + e] += ds * c.k[m][j * d_s + h * dh + e];
                        wk[m][j * d_s + h * dh + e] += ds * c.q[i * d_s + h * dh + e];
                        wv[m][j * d_s + h * dh + e] += pj * dout[e];
                    }
                }
            }
        }
    }
    float *dq = malloc(sizeof(float) * nq);
    for (size_t i = 0; i < nq; i++) {
        dq[i] = NAN;
    }
    mot_cpu_cross_attention_backward(dq, dseg, of, qf, n_q, heads, d_s, seg, n_seg);
    expect(K_XATTN, 0, what, nerr(dq, wq, nq));
    fd_check(K_XATTN, what, xattn_loss, &c, c.q, nq, dq);
    for (int m = 0; m < n_seg; m++) {
        const size_t nk = (size_t)rows[m] * d_s;
        expect(K_XATTN, 0, what, nerr(dseg[m].dk, wk[m], nk));
        expect(K_XATTN, 0, what, nerr(dseg[m].dv, wv[m], nk));
        fd_check(K_XATTN, what, xattn_loss, &c, c.k[m], nk, dseg[m].dk);
        fd_check(K_XATTN, what, xattn_loss, &c, c.v[m], nk, dseg[m].dv);
    }
    for (int m = 0; m < n_seg; m++) { /* after every check: each loss reads all segments */
        free(kf[m]), free(vf[m]), free(c.k[m]), free(c.v[m]), free(dseg[m].dk), free(dseg[m].dv);
        free(wk[m]), free(wv[m]);
    }
    free(qf), free(of), free(c.q), free(c.dout), free(wq), free(dq);
}

/* ---- cross-entropy ------------------------------------------------------------------------ */

typedef struct {
    double *logits;
    const int *targets;
    int n, vocab;
    double scale;
} ce_ctx;

/* scale * sum over rows with a target of -log softmax[target] (the gradient's loss) */
static double ce_loss(const void *p) {
    const ce_ctx *c = p;
    double l = 0.0;
    for (int t = 0; t < c->n; t++) {
        if (c->targets[t] < 0) {
            continue;
        }
        const double *r = c->logits + (size_t)t * c->vocab;
        double mx = -INFINITY, s = 0.0;
        for (int j = 0; j < c->vocab; j++) {
            mx = fmax(mx, r[j]);
        }
        for (int j = 0; j < c->vocab; j++) {
            s += exp(r[j] - mx);
        }
        l += mx + log(s) - r[c->targets[t]];
    }
    return c->scale * l;
}

static void case_cross_entropy(int n, int vocab, float scale, double logit_scale) {
    char what[80];
    snprintf(what, sizeof what, "n=%d vocab=%d scale=%g logits*%g", n, vocab, scale, logit_scale);
    const size_t cnt = (size_t)(n > 0 ? n : 0) * (size_t)(vocab > 0 ? vocab : 0);
    float *lf = frand(cnt, logit_scale);
    int *targets = malloc(sizeof(int) * (size_t)n);
    for (int t = 0; t < n; t++) {
        targets[t] = t % 4 == 2 ? -1 : (int)(next_u64() % (uint64_t)vocab);
    }
    ce_ctx c = {to_double(lf, cnt), targets, n, vocab, 1.0};
    const double want_loss = ce_loss(&c);
    c.scale = scale;
    double *want = dzeros(cnt);
    for (int t = 0; t < n; t++) {
        if (targets[t] < 0) {
            continue;
        }
        const double *r = c.logits + (size_t)t * vocab;
        double mx = -INFINITY, s = 0.0;
        for (int j = 0; j < vocab; j++) {
            mx = fmax(mx, r[j]);
        }
        for (int j = 0; j < vocab; j++) {
            s += exp(r[j] - mx);
        }
        for (int j = 0; j < vocab; j++) {
            want[(size_t)t * vocab + j] = scale * (exp(r[j] - mx) / s - (j == targets[t]));
        }
    }
    float *d = malloc(sizeof(float) * cnt);
    for (size_t i = 0; i < cnt; i++) {
        d[i] = NAN;
    }
    const double got_loss = mot_cpu_cross_entropy(d, lf, targets, n, vocab, scale);
    /* the loss is double throughout: far tighter than the f32 bound */
    const double lerr = fabs(got_loss - want_loss) / fmax(fabs(want_loss), 1e-300);
    n_run++;
    if (!(lerr <= 1e-12)) {
        n_failed++;
        printf("FAIL cross_entropy %s: loss %.17g, want %.17g\n", what, got_loss, want_loss);
    }
    expect(K_CE, 0, what, nerr(d, want, cnt));
    fd_check(K_CE, what, ce_loss, &c, c.logits, cnt, d);
    /* without dlogits: the same loss */
    n_run++;
    if (mot_cpu_cross_entropy(NULL, lf, targets, n, vocab, scale) != got_loss) {
        n_failed++;
        printf("FAIL cross_entropy %s: the loss without dlogits differs\n", what);
    }
    free(lf), free(targets), free(c.logits), free(want), free(d);
}

/* ---- determinism: the same bits for 1, 2 and 3 threads ------------------------------------ */

static void same_bits(const char *what, const float *a, const float *b, size_t n) {
    n_run++;
    if (memcmp(a, b, sizeof(float) * n) != 0) {
        n_failed++;
        printf("FAIL %s: the result depends on the thread count\n", what);
    }
}

static void case_determinism(void) {
    const int n = 50, rows = 70, cols = 768, hd = 20, heads = 9, kv = 3;
    void *base;
    const mot_weight w = make_quant(MOT_DTYPE_Q4_K, rows, cols, &base);
    float *dy = frand((size_t)n * rows, 1.0), *x = frand((size_t)n * cols, 1.0);
    float *q = frand((size_t)n * heads * hd, 2.0), *k = frand((size_t)n * kv * hd, 2.0);
    float *v = frand((size_t)n * kv * hd, 1.0), *o = frand((size_t)n * heads * hd, 1.0);
    float *out[3][5];
    const size_t sizes[5] = {(size_t)n * cols, (size_t)rows * cols, (size_t)n * heads * hd, (size_t)n * kv * hd,
                             (size_t)n * kv * hd};
    for (int th = 0; th < 3; th++) {
        omp_set_num_threads(th + 1);
        for (int i = 0; i < 5; i++) {
            out[th][i] = calloc(sizes[i], sizeof(float));
        }
        mot_cpu_matmul_backward_x(out[th][0], dy, &w, n, 0);
        mot_cpu_matmul_backward_w(out[th][1], NULL, dy, x, n, rows, cols);
        mot_cpu_attention_backward(out[th][2], out[th][3], out[th][4], o, q, k, v, n, heads, kv, hd, 5,
                                   1.0f / sqrtf((float)hd));
    }
    static const char *names[5] = {"backward_x Q4_K", "backward_w", "attention dq", "attention dk", "attention dv"};
    for (int th = 1; th < 3; th++) {
        for (int i = 0; i < 5; i++) {
            same_bits(names[i], out[0][i], out[th][i], sizes[i]);
        }
    }
    for (int th = 0; th < 3; th++) {
        for (int i = 0; i < 5; i++) {
            free(out[th][i]);
        }
    }
    omp_set_num_threads(omp_get_num_procs());
    free(dy), free(x), free(q), free(k), free(v), free(o);
    op_free_buffer(base);
}

/* ---- team mode: the same bits when called by every thread of a running team ---------------- */

/* The plan executor runs a pass inside one parallel region, and every thread of it calls each
 * op's kernel with the same arguments (kernels/cpu/team.h). Each kernel is run alone on T
 * threads (its own region) and then so from inside a team of T, T = 2 and 3, its outputs
 * reset to the same prior before each run (the accumulating ones add to it); the outputs, and
 * cross-entropy's loss on every thread, must match bitwise. Why it can fail: a kernel that
 * still opened its own region would run whole on every thread of the team (the nested region
 * is inactive), and the accumulating ones would add their gradient more than once, racing;
 * a loss left on one thread differs on the others; and a kernel that missed its closing
 * barrier lets a thread return before the others' outputs are written (each thread compares
 * them on return, as the next op would read them: that catch depends on the timing). */

enum { TEAM_OUTS = 5, TEAM_MAX = 3 };

typedef struct {
    int kernel, flag; /* flag: accumulate, with db, window, pos0, with dlogits */
    int n, a, b, c;   /* sizes, per kernel as team_call passes them */
    const mot_weight *w;
    const float *in[4];
    const int *targets;
    const mot_kv_segment *seg; /* two segments */
    int n_out;
    float *out[TEAM_OUTS];
    size_t size[TEAM_OUTS];
    double ret[TEAM_MAX]; /* per thread: cross-entropy's loss */
} team_case;

static void team_call(team_case *t) {
    float **o = t->out;
    const float *const *in = t->in;
    double ret = 0.0;
    switch (t->kernel) {
    case K_MMX: mot_cpu_matmul_backward_x(o[0], in[0], t->w, t->n, t->flag); break;
    case K_MMW: mot_cpu_matmul_backward_w(o[0], t->flag ? o[1] : NULL, in[0], in[1], t->n, t->a, t->b); break;
    case K_RMS: mot_cpu_rmsnorm_backward(o[0], in[0], in[1], in[2], t->n, t->a, 1e-5f, t->flag); break;
    case K_LN: mot_cpu_layernorm_backward(o[0], o[1], o[2], in[0], in[1], in[2], t->n, t->a, 1e-5f); break;
    case K_SWIGLU: mot_cpu_swiglu_backward(o[0], o[1], in[0], in[1], in[2], t->n, t->a); break;
    case K_ROPE: mot_cpu_rope_backward(o[0], o[1], t->n, t->a, t->b, t->c, t->flag, in[0]); break;
    case K_ATTN:
        mot_cpu_attention_backward(o[0], o[1], o[2], in[0], in[1], in[2], in[3], t->n, t->a, t->b, t->c, t->flag,
                                   1.0f / sqrtf((float)t->c));
        break;
    case K_XATTN: {
        mot_kv_segment_grad dseg[2] = {{o[1], o[2]}, {o[3], o[4]}};
        mot_cpu_cross_attention_backward(o[0], dseg, in[0], in[1], t->n, t->a, t->b, t->seg, 2);
        break;
    }
    case K_CE: ret = mot_cpu_cross_entropy(t->flag ? o[0] : NULL, in[0], t->targets, t->n, t->a, 0.25f); break;
    default: break;
    }
    t->ret[omp_in_parallel() ? omp_get_thread_num() : 0] = ret;
}

static void team_check(const char *what, team_case *t) {
    float *prior[TEAM_OUTS], *want[TEAM_OUTS];
    for (int i = 0; i < t->n_out; i++) {
        prior[i] = frand(t->size[i], 1.0);
        want[i] = malloc(sizeof(float) * t->size[i]);
        t->out[i] = malloc(sizeof(float) * t->size[i]);
    }
    for (int th = 2; th <= TEAM_MAX; th++) {
        for (int i = 0; i < t->n_out; i++) {
            memcpy(t->out[i], prior[i], sizeof(float) * t->size[i]);
        }
        omp_set_num_threads(th);
        team_call(t);
        const double want_ret = t->ret[0];
        for (int i = 0; i < t->n_out; i++) {
            memcpy(want[i], t->out[i], sizeof(float) * t->size[i]);
            memcpy(t->out[i], prior[i], sizeof(float) * t->size[i]);
        }
        int team = 0, bad = 0;
#pragma omp parallel num_threads(th) reduction(| : bad)
        {
            if (omp_get_thread_num() == 0) {
                team = omp_get_num_threads();
            }
            team_call(t);
            /* what each thread sees on return, as the next op would: the kernel's closing
             * barrier must have ordered every thread's writes before it */
            for (int i = 0; i < t->n_out; i++) {
                bad |= memcmp(want[i], t->out[i], sizeof(float) * t->size[i]) != 0;
            }
        }
        n_run++;
        bad |= team != th;
        for (int r = 0; r < th; r++) {
            bad |= t->ret[r] != want_ret;
        }
        if (bad) {
            n_failed++;
            printf("FAIL %s %s: in a team of %d (got %d threads) not the bits of a call alone\n",
                   kernel_names[t->kernel], what, th, team);
        }
    }
    for (int i = 0; i < t->n_out; i++) {
        free(prior[i]), free(want[i]), free(t->out[i]);
    }
    omp_set_num_threads(omp_get_num_procs());
}

static void case_team(void) {
    enum { POOL = 200 * 768 };
    omp_set_dynamic(0); /* teams of the threads asked for */
    float *in[4];
    for (int i = 0; i < 4; i++) {
        in[i] = frand(POOL, 1.0);
    }
    void *qbase, *fbase;
    const mot_weight wq = make_quant(MOT_DTYPE_Q4_K, 70, 768, &qbase);
    const mot_weight wf = {MOT_DTYPE_F32, op_make_buffer(MOT_DTYPE_F32, in[3], 37 * 301, 2, &fbase), 37, 301};
    for (int acc = 0; acc <= 1; acc++) {
        team_check(acc ? "Q4_K n=40 accumulate" : "Q4_K n=40",
                   &(team_case){K_MMX, acc, 40, .w = &wq, .in = {in[0]}, .n_out = 1, .size = {40 * 768}});
        team_check(acc ? "F32 n=3 accumulate" : "F32 n=3", /* few tokens: chunks by the thread count */
                   &(team_case){K_MMX, acc, 3, .w = &wf, .in = {in[0]}, .n_out = 1, .size = {3 * 301}});
        team_check(acc ? "n=17 accumulate" : "n=17",
                   &(team_case){K_RMS, acc, 17, 67, .in = {in[0], in[1], in[2]}, .n_out = 1, .size = {17 * 67}});
    }
    team_check("n=40 rows=70 cols=300 bias", &(team_case){K_MMW, 1, 40, 70, 300, .in = {in[0], in[1]}, .n_out = 2,
                                                          .size = {70 * 300, 70}});
    /* no db: the items' loop is nowait, then the closing barrier; items long enough (6 of
     * 48 x 256 x 200) that a thread without one would return while another still writes */
    team_check("n=200 rows=96 cols=768",
               &(team_case){K_MMW, 0, 200, 96, 768, .in = {in[0], in[1]}, .n_out = 1, .size = {96 * 768}});
    team_check("n=17 d=67", &(team_case){K_LN, 0, 17, 67, .in = {in[0], in[1], in[2]}, .n_out = 3,
                                         .size = {17 * 67, 67, 67}});
    team_check("n=20 f=1000", &(team_case){K_SWIGLU, 0, 20, 1000, .in = {in[0], in[1], in[2]}, .n_out = 2,
                                           .size = {20 * 1000, 20 * 1000}});
    team_check("n=17 heads=6/2 hd=300 pos0=7", &(team_case){K_ROPE, 7, 17, 6, 2, 300, .in = {in[0]}, .n_out = 2,
                                                            .size = {17 * 6 * 300, 17 * 2 * 300}});
    for (int window = 0; window <= 7; window += 7) {
        team_check(window ? "n=40 heads=9/3 hd=20 window=7" : "n=40 heads=9/3 hd=20",
                   &(team_case){K_ATTN, window, 40, 9, 3, 20, .in = {in[0], in[1], in[2], in[3]}, .n_out = 3,
                                .size = {40 * 9 * 20, 40 * 3 * 20, 40 * 3 * 20}});
    }
    const mot_kv_segment seg[2] = {{in[2], in[3], 40, 40}, {in[2] + 40 * 64, in[3] + 40 * 64, 18, 17}};
    team_check("n_q=23 heads=4 d_s=64 segments 40/40 17/18",
               &(team_case){K_XATTN, 0, 23, 4, 64, .in = {in[0], in[1]}, .seg = seg, .n_out = 5,
                            .size = {23 * 64, 40 * 64, 40 * 64, 18 * 64, 18 * 64}});
    int targets[6];
    for (int t = 0; t < 6; t++) {
        targets[t] = t % 4 == 2 ? -1 : (int)(next_u64() % 5000);
    }
    for (int with_d = 0; with_d <= 1; with_d++) {
        team_check(with_d ? "n=6 vocab=5000" : "n=6 vocab=5000 no dlogits",
                   &(team_case){K_CE, with_d, 6, 5000, .in = {in[0]}, .targets = targets, .n_out = with_d,
                                .size = {6 * 5000}});
    }
    for (int i = 0; i < 4; i++) {
        free(in[i]);
    }
    op_free_buffer(qbase), op_free_buffer(fbase);
}

int main(void) {
    /* linear dx: every dtype, odd token counts, a tile of more than 192 tokens, column chunks */
    static const mot_dtype dts[] = {MOT_DTYPE_F32,    MOT_DTYPE_F16,  MOT_DTYPE_BF16, MOT_DTYPE_Q8_0, MOT_DTYPE_Q4_0,
                                    MOT_DTYPE_Q4_1,   MOT_DTYPE_Q5_0, MOT_DTYPE_Q5_1, MOT_DTYPE_IQ4_NL, MOT_DTYPE_Q2_K,
                                    MOT_DTYPE_Q3_K,   MOT_DTYPE_Q4_K, MOT_DTYPE_Q5_K, MOT_DTYPE_Q6_K, MOT_DTYPE_IQ4_XS};
    static const int ns[] = {1, 3, 17};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++) {
        const int block = mot_dtype_block_elems(dts[i]);
        const int cols_small = block == 1 ? 19 : block == 32 ? 96 : 256;
        const int cols_big = block == 1 ? 301 : block == 32 ? 544 : 768;
        for (int k = 0; k < 3; k++) {
            case_backward_x(dts[i], ns[k], 37, cols_small);
            case_backward_x(dts[i], ns[k], 70, cols_big);
        }
        case_backward_x(dts[i], 200, 67, cols_big);
    }
    case_backward_x(MOT_DTYPE_F32, 5, 3, 7);
    case_backward_w(1, 5, 7, 1);
    case_backward_w(3, 37, 19, 1);
    case_backward_w(17, 70, 301, 0);
    case_backward_w(130, 50, 40, 1);
    for (int k = 0; k < 3; k++) {
        case_rmsnorm(ns[k], 5, 1e-6f);
        case_rmsnorm(ns[k], 67, 1e-5f);
        case_layernorm(ns[k], 7, 1e-5f, 0.0);
        case_layernorm(ns[k], 67, 1e-5f, 30.0);
        case_swiglu(ns[k], 13, 6.0);
    }
    case_rmsnorm(4, 576, 1e-5f);
    case_layernorm(5, 300, 1e-5f, 2.0);
    case_swiglu(33, 1000, 9.0); /* past the kernel's serial threshold */
    for (int k = 0; k < 3; k++) {
        case_rope(ns[k], 3, 1, 6, 0);
        case_rope(ns[k], 6, 2, 10, 7);
        case_rope(ns[k], 2, 2, 64, 1000);
    }
    case_rope(2, 1, 1, 300, 5); /* half 150: two frequency chunks */
    for (int k = 0; k < 3; k++) {
        for (int window = 0; window <= 4; window += 4) {
            case_attention(ns[k], 2, 2, 12, window);
            case_attention(ns[k], 6, 2, 12, window);
            case_attention(ns[k], 3, 1, 16, window);
        }
    }
    case_attention(40, 9, 3, 64, 0);
    case_attention(40, 9, 3, 20, 7);
    {
        const int p1[] = {3}, r1[] = {3};
        const int p2[] = {9, 4}, r2[] = {10, 4}; /* a decode row past the prompt: never visible */
        const int p3[] = {2, 13, 7}, r3[] = {2, 14, 7};
        static const int nqs[] = {1, 5, 7};
        for (int k = 0; k < 3; k++) {
            case_cross_attention(nqs[k], 1, 5, 1, p1, r1);
            case_cross_attention(nqs[k], 2, 6, 2, p2, r2);
            case_cross_attention(nqs[k], 3, 8, 3, p3, r3);
        }
        const int p4[] = {40, 17}, r4[] = {40, 17};
        case_cross_attention(23, 4, 16, 2, p4, r4);
    }
    for (int k = 0; k < 3; k++) {
        case_cross_entropy(ns[k], 37, 1.0f, 3.0);
        case_cross_entropy(ns[k], 1000, 0.25f, 8.0);
    }
    case_cross_entropy(6, 5000, 1.0f / 6, 20.0);
    case_determinism();
    case_team();

    printf("worst normalized error per kernel (bound %.0e): analytic / finite differences\n", BOUND);
    for (int k = 0; k < K_COUNT; k++) {
        printf("  %-26s %.2e / %.2e\n", kernel_names[k], worst_an[k], worst_fd[k]);
    }
    printf("%d/%d checks passed\n", n_run - n_failed, n_run);
    return n_failed ? 1 : 0;
}
