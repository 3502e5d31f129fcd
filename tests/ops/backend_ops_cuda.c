/* tests/ops/test_backend_ops.c's CUDA backend: the plan ops through the real mot_gpu_api table
 * (kernels/cuda/gpu_api_cuda.cu), one launch at a time on the lane's stream, synchronized;
 * weights, biases and norm vectors uploaded per launch. Without a device: exit 77 (skipped). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "kernels/cuda/cuda_kernels.h"
#include "tests/ops/backend_ops_be.h"

const char *be_name = "cuda";
const int be_has_fusion = 0;

static mot_gpu_api api;
static void *stream[MOT_MAX_LANES];
static char *arena;
static size_t arena_bytes, used;

static void fatal(const char *what) {
    printf("FAIL cuda backend, %s: %s\n", what, mot_last_error());
    exit(1);
}

int be_init(size_t bytes) {
    if (mot_cuda_device_count() == 0) {
        printf("SKIP: no CUDA device on this machine; the CUDA kernels were built but not run\n");
        return 77;
    }
    if (mot_gpu_api_cuda_create(0, &api) != MOT_OK) {
        fatal("mot_gpu_api_cuda_create");
    }
    for (int i = 0; i < MOT_MAX_LANES; i++) {
        if (api.stream_create(api.ctx, &stream[i]) ||
            api.lane_create(api.ctx, i, stream[i], (size_t)1 << 20, (size_t)4 << 20, 0)) { /* exact */
            fatal("stream / lane_create");
        }
    }
    if (api.alloc(api.ctx, bytes, (void **)&arena)) {
        fatal("arena alloc");
    }
    arena_bytes = bytes;
    be_reset();
    return 0;
}

void be_free(void) {
    api.free(api.ctx, arena);
    for (int i = 0; i < MOT_MAX_LANES; i++) {
        api.stream_destroy(api.ctx, stream[i]);
    }
    api.destroy(api.ctx);
}

static void sync0(void) {
    if (api.stream_synchronize(api.ctx, stream[0])) {
        fatal("synchronize");
    }
}

void be_reset(void) {
    used = (sizeof(mot_step_state) + 255) & ~(size_t)255;
    char *zero = calloc(1, arena_bytes);
    if (!zero || api.copy_h2d(api.ctx, arena, zero, arena_bytes, stream[0])) {
        fatal("arena reset");
    }
    sync0();
    free(zero);
}

mot_buf be_buf(size_t bytes) {
    mot_buf b = {used, bytes};
    used += (bytes + 255) & ~(size_t)255;
    if (used > arena_bytes) {
        printf("FAIL cuda backend: arena of %zu bytes too small\n", arena_bytes);
        exit(1);
    }
    return b;
}

void be_put(mot_buf b, const void *host) {
    if (api.copy_h2d(api.ctx, arena + b.off, host, b.bytes, stream[0])) {
        fatal("copy_h2d");
    }
    sync0();
}

void be_get(void *host, mot_buf b) {
    if (api.copy_d2h(api.ctx, host, arena + b.off, b.bytes, stream[0])) {
        fatal("copy_d2h");
    }
    sync0();
}

void be_set_step(const mot_step_state *s) { be_put((mot_buf){0, sizeof *s}, s); }
void be_get_step(mot_step_state *s) { be_get(s, (mot_buf){0, sizeof *s}); }

static void *uploads[16];
static int n_uploads;

static const void *upload(const void *host, size_t bytes) {
    if (!host || !bytes) {
        return NULL;
    }
    void *dev;
    if (n_uploads == 16 || api.alloc(api.ctx, bytes, &dev) || api.copy_h2d(api.ctx, dev, host, bytes, stream[0])) {
        fatal("upload");
    }
    sync0();
    uploads[n_uploads++] = dev;
    return dev;
}

int be_run(const mot_plan_op *op, const be_bind *b) {
    mot_gpu_launch l;
    memset(&l, 0, sizeof l);
    mot_plan_op dev_op = *op; /* its f32 vectors as device copies */
    const float **vec[2];
    int64_t vec_len[2];
    for (int v = mot_plan_op_vectors(&dev_op, vec, vec_len) - 1; v >= 0; v--) {
        *vec[v] = upload(*vec[v], sizeof(float) * (size_t)vec_len[v]);
    }
    l.op = &dev_op;
    l.arena = arena;
    l.step = (mot_step_state *)arena;
    for (int j = 0; j < MOT_OP_MAX_W; j++) {
        if (b->w[j]) {
            l.w[j] = *b->w[j];
            l.w[j].data = upload(b->w[j]->data, mot_dtype_row_bytes(b->w[j]->dtype, b->w[j]->cols) * (size_t)b->w[j]->rows);
            l.bias[j] = upload(b->bias[j], sizeof(float) * (size_t)b->w[j]->rows);
        }
    }
    l.rows = b->rows, l.max_rows = b->max_rows, l.vocab = b->vocab;
    l.temperature = b->temperature, l.top_p = b->top_p, l.top_k = b->top_k, l.min_p = b->min_p;
    void *s = stream[op->lane];
    int rc = api.launch(api.ctx, &l, op->lane, s) || api.stream_synchronize(api.ctx, s);
    if (rc) {
        printf("FAIL cuda %s: %s\n", mot_op_kind_name(op->kind), mot_last_error());
    }
    for (int i = 0; i < n_uploads; i++) {
        api.free(api.ctx, uploads[i]);
    }
    n_uploads = 0;
    return rc;
}

int be_run_plan(mot_plan *p, const be_bind *binds) {
    (void)p, (void)binds;
    return -1;
}
