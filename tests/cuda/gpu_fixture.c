#include "tests/cuda/gpu_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gpu_fx_failures;

static void fatal(const char *what) {
    printf("FAIL %s: %s\n", what, mot_last_error());
    exit(1);
}

int gpu_fx_init(gpu_fx *f, size_t arena_bytes, size_t max_gemm_elems) {
    memset(f, 0, sizeof *f);
    if (mot_cuda_device_count() == 0) {
        printf("SKIP: no CUDA device on this machine; the CUDA kernels were built but not run\n");
        return 77;
    }
    if (mot_gpu_api_cuda_create(0, &f->api) != MOT_OK) {
        fatal("mot_gpu_api_cuda_create");
    }
    f->max_gemm_elems = max_gemm_elems;
    for (int i = 0; i < MOT_MAX_LANES; i++) {
        if (f->api.stream_create(f->api.ctx, &f->stream[i]) ||
            f->api.lane_create(f->api.ctx, i, f->stream[i], max_gemm_elems, GPU_FX_DEQUANT_BYTES, 0)) {
            fatal("stream / lane_create");
        }
    }
    if (f->api.alloc(f->api.ctx, arena_bytes, (void **)&f->arena)) {
        fatal("arena alloc");
    }
    f->bytes = arena_bytes;
    f->used = (sizeof(mot_step_state) + 255) & ~(size_t)255;
    return 0;
}

void gpu_fx_set_precision(gpu_fx *f, int fast) {
    for (int i = 0; i < MOT_MAX_LANES; i++) {
        if (f->api.lane_create(f->api.ctx, i, f->stream[i], f->max_gemm_elems, GPU_FX_DEQUANT_BYTES, fast)) {
            fatal("lane_create (precision)");
        }
    }
}

void gpu_fx_free(gpu_fx *f) {
    for (int i = 0; i < f->n_allocs; i++) {
        f->api.free(f->api.ctx, f->allocs[i]);
    }
    f->api.free(f->api.ctx, f->arena);
    for (int i = 0; i < MOT_MAX_LANES; i++) {
        f->api.stream_destroy(f->api.ctx, f->stream[i]);
    }
    f->api.destroy(f->api.ctx);
}

mot_buf gpu_fx_buf(gpu_fx *f, size_t bytes) {
    mot_buf b = {f->used, bytes};
    f->used += (bytes + 255) & ~(size_t)255;
    if (f->used > f->bytes) {
        printf("FAIL fixture: arena of %zu bytes too small\n", f->bytes);
        exit(1);
    }
    return b;
}

static void sync0(gpu_fx *f) {
    if (f->api.stream_synchronize(f->api.ctx, f->stream[0])) {
        fatal("synchronize");
    }
}

void gpu_fx_put(gpu_fx *f, mot_buf b, const void *host) {
    if (f->api.copy_h2d(f->api.ctx, f->arena + b.off, host, b.bytes, f->stream[0])) {
        fatal("copy_h2d");
    }
    sync0(f);
}

void gpu_fx_get(gpu_fx *f, void *host, mot_buf b) {
    if (f->api.copy_d2h(f->api.ctx, host, f->arena + b.off, b.bytes, f->stream[0])) {
        fatal("copy_d2h");
    }
    sync0(f);
}

void gpu_fx_fill(gpu_fx *f, mot_buf b, float value) {
    size_t n = b.bytes / sizeof(float);
    float *tmp = malloc(b.bytes ? b.bytes : 1);
    for (size_t i = 0; i < n; i++) {
        tmp[i] = value;
    }
    gpu_fx_put(f, b, tmp);
    free(tmp);
}

void *gpu_fx_upload(gpu_fx *f, const void *host, size_t bytes) {
    void *dev;
    if (f->n_allocs == (int)(sizeof f->allocs / sizeof f->allocs[0]) || f->api.alloc(f->api.ctx, bytes, &dev)) {
        fatal("upload alloc (the fixture's allocation slots are used up, or the device is out of memory)");
    }
    f->allocs[f->n_allocs++] = dev;
    if (f->api.copy_h2d(f->api.ctx, dev, host, bytes, f->stream[0])) {
        fatal("upload copy");
    }
    sync0(f);
    return dev;
}

void gpu_fx_set_step(gpu_fx *f, const mot_step_state *s) {
    mot_buf b = {0, sizeof *s};
    gpu_fx_put(f, b, s);
}

void gpu_fx_get_step(gpu_fx *f, mot_step_state *s) {
    mot_buf b = {0, sizeof *s};
    gpu_fx_get(f, s, b);
}

mot_gpu_launch gpu_fx_launch_of(gpu_fx *f, const mot_plan_op *op, int rows, int max_rows) {
    mot_gpu_launch l;
    memset(&l, 0, sizeof l);
    l.op = op;
    l.arena = f->arena;
    l.step = (mot_step_state *)f->arena;
    l.rows = rows;
    l.max_rows = max_rows;
    return l;
}

int gpu_fx_run(gpu_fx *f, const mot_gpu_launch *l, const char *what) {
    void *s = f->stream[l->op->lane];
    if (f->api.launch(f->api.ctx, l, l->op->lane, s) || f->api.stream_synchronize(f->api.ctx, s)) {
        printf("FAIL %s: %s\n", what, mot_last_error());
        gpu_fx_failures++;
        return 1;
    }
    return 0;
}

void fx_fill_random(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((seed >> 8) / 16777216.0f - 0.5f) * 2.0f;
    }
}

/* max |a - b| / max |b| over n values; NaN/inf fail first. */
void fx_expect_close(const char *what, const float *got, const float *ref, size_t n, double bound) {
    double num = 0.0, den = 1e-30;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            printf("FAIL %s: non-finite value at %zu\n", what, i);
            gpu_fx_failures++;
            return;
        }
        num = fmax(num, fabs((double)got[i] - ref[i]));
        den = fmax(den, fabs((double)ref[i]));
    }
    double err = num / den;
    printf("%s %s: normalized error %.3g (bound %.1g)\n", err <= bound ? "ok  " : "FAIL", what, err, bound);
    gpu_fx_failures += err > bound;
}

void fx_expect_equal(const char *what, const float *got, const float *ref, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&got[i], &ref[i], sizeof(float)) != 0) {
            printf("FAIL %s: element %zu is %g, expected %g\n", what, i, got[i], ref[i]);
            gpu_fx_failures++;
            return;
        }
    }
    printf("ok   %s: %zu values equal\n", what, n);
}

void fx_expect_int(const char *what, long long got, long long want) {
    if (got != want) {
        printf("FAIL %s: %lld, expected %lld\n", what, got, want);
        gpu_fx_failures++;
    } else {
        printf("ok   %s: %lld\n", what, got);
    }
}
