// The real mot_gpu_api table (kernels/cuda/gpu_api.h): streams, events, graphs and memory through the
// CUDA runtime, GEMMs through one cuBLAS handle per lane, ops through their launch functions
// (kernels/cuda/op_launch.h; the dispatch by kind is here), profiler ranges through NVTX. Every
// entry returns 0 or non-zero after mot_fail(). Device discovery is here too.
#include <nvtx3/nvToolsExt.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/error.h"
#include "common/mapped_file.h"
#include "kernels/cuda/op_common.cuh"

// Device discovery: a machine without a driver or GPU simply has 0 devices.
extern "C" int mot_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver" error
        return 0;
    }
    return n;
}

extern "C" mot_status mot_cuda_device_describe(int device, char *buf, size_t cap) {
    cudaDeviceProp prop;
    MOT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    snprintf(buf, cap, "%s, %.1f GiB, sm_%d%d", prop.name, prop.totalGlobalMem / 1073741824.0, prop.major,
             prop.minor);
    return MOT_OK;
}

// Dispatch of a plan op to its kernels (kernels/cuda/op_launch.h).
typedef mot_status (*cuda_launch_fn)(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream);

// Indexed by kind, generated from the op table (ops/op_table.h): a kind without its CUDA op
// launch does not compile.
static const cuda_launch_fn cuda_launch[MOT_OP_KIND_COUNT] = {
#define CUDA_LAUNCH_(KIND, name, reads, ref, cpu, cuda, doc) cuda,
    MOT_OP_TABLE(CUDA_LAUNCH_)
#undef CUDA_LAUNCH_
};

static mot_status dispatch(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream s) {
    if ((unsigned)l->op->kind >= MOT_OP_KIND_COUNT) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "unknown op kind %d", (int)l->op->kind);
    }
    return cuda_launch[l->op->kind](l, lane, s);
}

extern "C" mot_status mot_cuda_op_launch(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    if (!l || !l->op || !l->arena || !l->step) {
        return mot_fail(MOT_ERR_ARG, "cuda launch: op, arena or step state missing");
    }
    const mot_plan_op *op = l->op;
    if (op->lane < 0 || op->lane >= MOT_MAX_LANES) {
        return mot_fail(MOT_ERR_ARG, "cuda launch: %s op on lane %d (max %d)", mot_op_kind_name(op->kind), op->lane,
                        MOT_MAX_LANES);
    }
    const mot_status st = dispatch(l, lane, stream);
    if (st != MOT_OK) {
        return mot_fail_prefix(st, "%s op (lane %d, layer %d)", mot_op_kind_name(op->kind), op->lane, op->layer);
    }
    return MOT_OK;
}

#define GPU_API_WORKSPACE_BYTES ((size_t)32 << 20)  // cuBLAS workspace per lane

struct api_lane {
    cudaStream_t stream;
    mot_cuda_lane k;  // cuBLAS handle and attention partials
};

// Large uploads from pageable memory go through pinned staging buffers (see api_copy_h2d).
#define STAGE_BUFFERS 2
#define STAGE_BYTES ((size_t)64 << 20)
#define STAGE_MIN_COPY ((size_t)8 << 20)

struct api_ctx {
    int device;
    api_lane lanes[MOT_MAX_LANES];
    void *stage[STAGE_BUFFERS];        // pinned, STAGE_BYTES each (made on the first large upload)
    cudaEvent_t stage_done[STAGE_BUFFERS];
    int stage_state;                   // 0 not tried, 1 ready, -1 off (MOT_CUDA_STAGED=0 or no pinned memory)
    int stage_next;
};

static void stage_free(api_ctx *c) {
    for (int i = 0; i < STAGE_BUFFERS; i++) {
        if (c->stage_done[i]) cudaEventSynchronize(c->stage_done[i]), cudaEventDestroy(c->stage_done[i]);
        if (c->stage[i]) cudaFreeHost(c->stage[i]);
        c->stage[i] = NULL;
        c->stage_done[i] = NULL;
    }
}

static int stage_ready(api_ctx *c) {
    if (c->stage_state == 0) {
        const char *env = getenv("MOT_CUDA_STAGED");
        c->stage_state = env && !strcmp(env, "0") ? -1 : 1;
        for (int i = 0; c->stage_state > 0 && i < STAGE_BUFFERS; i++) {
            if (cudaHostAlloc(&c->stage[i], STAGE_BYTES, cudaHostAllocDefault) != cudaSuccess ||
                cudaEventCreateWithFlags(&c->stage_done[i], cudaEventDisableTiming) != cudaSuccess) {
                cudaGetLastError();  // no pinned memory: the driver's own staging then
                stage_free(c);
                c->stage_state = -1;
            }
        }
    }
    return c->stage_state > 0;
}

static void lane_free(api_lane *ln) {
    mot_cuda_blas_destroy(ln->k.blas);
    cudaFree(ln->k.partial);
    cudaFree(ln->k.ticket);
    *ln = api_lane();
}

static int api_stream_create(void *ctx, void **stream) {
    cudaStream_t s;
    MOT_CUDA_CHECK(cudaSetDevice(((api_ctx *)ctx)->device));
    MOT_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    *stream = s;
    return 0;
}

static void api_stream_destroy(void *, void *stream) {
    if (stream) {
        cudaStreamDestroy((cudaStream_t)stream);
    }
}

static int api_event_create(void *, void **event) {
    cudaEvent_t e;
    MOT_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    *event = e;
    return 0;
}

static void api_event_destroy(void *, void *event) {
    if (event) {
        cudaEventDestroy((cudaEvent_t)event);
    }
}

static int api_event_record(void *, void *event, void *stream) {
    MOT_CUDA_CHECK(cudaEventRecord((cudaEvent_t)event, (cudaStream_t)stream));
    return 0;
}

static int api_timer_create(void *, void **event) {
    cudaEvent_t e;
    MOT_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDefault));  // timing enabled
    *event = e;
    return 0;
}

// In a capture: External, so the event becomes an event-record node of the graph and every
// replay stamps it (a plain record there only orders streams). Outside one the flag is
// invalid, so an eager pass records plainly.
static int api_timer_record(void *, void *event, void *stream, int capturing) {
    MOT_CUDA_CHECK(cudaEventRecordWithFlags((cudaEvent_t)event, (cudaStream_t)stream,
                                            capturing ? cudaEventRecordExternal : cudaEventRecordDefault));
    return 0;
}

static int api_timer_elapsed(void *, void *start, void *end, float *ms) {
    MOT_CUDA_CHECK(cudaEventElapsedTime(ms, (cudaEvent_t)start, (cudaEvent_t)end));
    return 0;
}

static int api_stream_wait_event(void *, void *stream, void *event) {
    MOT_CUDA_CHECK(cudaStreamWaitEvent((cudaStream_t)stream, (cudaEvent_t)event, 0));
    return 0;
}

static int api_stream_synchronize(void *, void *stream) {
    MOT_CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)stream));
    return 0;
}

static int api_begin_capture(void *, void *stream) {
    MOT_CUDA_CHECK(cudaStreamBeginCapture((cudaStream_t)stream, cudaStreamCaptureModeGlobal));
    return 0;
}

static int api_end_capture(void *, void *stream, void **graph) {
    cudaGraph_t g = NULL;
    MOT_CUDA_CHECK(cudaStreamEndCapture((cudaStream_t)stream, &g));
    *graph = g;
    return 0;
}

static int api_graph_instantiate(void *, void *graph, void **exec) {
    cudaGraphExec_t e = NULL;
    MOT_CUDA_CHECK(cudaGraphInstantiate(&e, (cudaGraph_t)graph, 0));
    *exec = e;
    return 0;
}

static int api_graph_launch(void *, void *exec, void *stream) {
    MOT_CUDA_CHECK(cudaGraphLaunch((cudaGraphExec_t)exec, (cudaStream_t)stream));
    return 0;
}

static void api_graph_destroy(void *, void *graph, void *exec) {
    if (exec) {
        cudaGraphExecDestroy((cudaGraphExec_t)exec);
    }
    if (graph) {
        cudaGraphDestroy((cudaGraph_t)graph);
    }
}

static int api_alloc(void *ctx, size_t bytes, void **dev) {
    void *p = NULL;
    MOT_CUDA_CHECK(cudaSetDevice(((api_ctx *)ctx)->device));
    MOT_CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
    // cudaMemset runs on the legacy default stream, which does not order against the
    // non-blocking lane/origin streams: wait for it, so later copies are not zeroed after the
    // fact. (alloc is only called while opening, never inside a capture.)
    cudaError_t err = cudaMemset(p, 0, bytes);
    if (err == cudaSuccess) {
        err = cudaDeviceSynchronize();
    }
    if (err != cudaSuccess) {
        cudaFree(p);
        return mot_fail(MOT_ERR_INTERNAL, "cudaMemset of %zu bytes: %s", bytes, cudaGetErrorString(err));
    }
    *dev = p;
    return 0;
}

static void api_free(void *, void *dev) { cudaFree(dev); }

// A copy from pageable memory is staged by the driver through small pinned buffers, one
// thread copying into them. Weight uploads (GBs) are staged here instead: 64 MiB pinned
// buffers, alternately filled by several threads (mot_parallel_memcpy, common/mapped_file.h) while the DMA of the
// other runs. Returns once src has been read (as a pageable cudaMemcpyAsync does); the copies
// complete in stream order. MOT_CUDA_STAGED=0 turns it off (the driver's path), for comparison.
static int api_copy_h2d(void *ctx, void *dst, const void *src, size_t bytes, void *stream) {
    api_ctx *c = (api_ctx *)ctx;
    MOT_CUDA_CHECK(cudaGetLastError());  // an earlier error is reported, not cleared by the line after next
    cudaPointerAttributes attr;
    const bool pageable = bytes >= STAGE_MIN_COPY && cudaPointerGetAttributes(&attr, src) == cudaSuccess &&
                          attr.type == cudaMemoryTypeUnregistered;
    cudaGetLastError();  // cudaPointerGetAttributes may leave an error for plain host memory
    if (!pageable || !stage_ready(c)) {
        MOT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, (cudaStream_t)stream));
        return 0;
    }
    for (size_t off = 0; off < bytes; off += STAGE_BYTES) {
        const size_t n = bytes - off < STAGE_BYTES ? bytes - off : STAGE_BYTES;
        const int k = c->stage_next;
        c->stage_next = (k + 1) % STAGE_BUFFERS;
        MOT_CUDA_CHECK(cudaEventSynchronize(c->stage_done[k]));  // its last DMA is done
        mot_parallel_memcpy(c->stage[k], (const char *)src + off, n);
        MOT_CUDA_CHECK(cudaMemcpyAsync((char *)dst + off, c->stage[k], n, cudaMemcpyHostToDevice, (cudaStream_t)stream));
        MOT_CUDA_CHECK(cudaEventRecord(c->stage_done[k], (cudaStream_t)stream));
    }
    return 0;
}

static int api_copy_d2h(void *, void *dst, const void *src, size_t bytes, void *stream) {
    MOT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, (cudaStream_t)stream));
    return 0;
}

// (Re)creates the lane's cuBLAS handle on `stream` with its own workspace and precision, the
// low-precision activation scratch (max_gemm_elems * 2 bytes), the exact GEMMs' widening tile
// (dequant_bytes) and the split attention partials. Must run before any capture: this allocates.
static int api_lane_create(void *ctx, int lane, void *stream, size_t max_gemm_elems, size_t dequant_bytes,
                           int precision_fast) {
    api_ctx *c = (api_ctx *)ctx;
    if (lane < 0 || lane >= MOT_MAX_LANES) {
        return mot_fail(MOT_ERR_ARG, "cuda lane_create: lane %d out of range (max %d)", lane, MOT_MAX_LANES);
    }
    MOT_CUDA_CHECK(cudaSetDevice(c->device));
    api_lane *ln = &c->lanes[lane];
    if (ln->k.blas) {
        MOT_CUDA_CHECK(cudaDeviceSynchronize());  // the old handle's work, before freeing it
    }
    lane_free(ln);
    ln->stream = (cudaStream_t)stream;
    mot_status st = mot_cuda_blas_create((mot_cuda_stream)stream, GPU_API_WORKSPACE_BYTES, &ln->k.blas);
    if (st == MOT_OK) {
        mot_cuda_blas_set_precision(ln->k.blas, precision_fast);
        st = mot_cuda_blas_reserve(ln->k.blas, max_gemm_elems * 2);
    }
    if (st == MOT_OK) {
        st = mot_cuda_blas_reserve_dequant(ln->k.blas, dequant_bytes);
    }
    if (st != MOT_OK) {
        lane_free(ln);
        return mot_fail_prefix(st, "cuda lane_create %d", lane);
    }
    const cudaError_t err = cudaMalloc(&ln->k.partial, MOT_CUDA_PARTIAL_BYTES);
    if (err != cudaSuccess) {
        lane_free(ln);
        return mot_fail(MOT_ERR_INTERNAL, "cuda lane_create %d: attention partials: %s", lane, cudaGetErrorString(err));
    }
    ln->k.partial_floats = MOT_CUDA_PARTIAL_BYTES / sizeof(float);
    // the one-launch decode attention's counters (MOT_CUDA_ATTENTION_COMBINE=kernel keeps the
    // separate combine kernel, for comparison); zeroed before any launch can count
    const char *combine = getenv("MOT_CUDA_ATTENTION_COMBINE");
    if (!combine || strcmp(combine, "kernel")) {
        if (cudaMalloc(&ln->k.ticket, MOT_CUDA_TICKETS * sizeof(unsigned)) != cudaSuccess ||
            cudaMemsetAsync(ln->k.ticket, 0, MOT_CUDA_TICKETS * sizeof(unsigned), (cudaStream_t)stream) != cudaSuccess ||
            cudaStreamSynchronize((cudaStream_t)stream) != cudaSuccess) {
            lane_free(ln);
            return mot_fail(MOT_ERR_INTERNAL, "cuda lane_create %d: attention tickets: %s", lane,
                            cudaGetErrorString(cudaGetLastError()));
        }
    }
    return 0;
}

static int api_launch(void *ctx, const mot_gpu_launch *l, int lane, void *stream) {
    api_ctx *c = (api_ctx *)ctx;
    if (lane < 0 || lane >= MOT_MAX_LANES || !c->lanes[lane].k.blas) {
        return mot_fail(MOT_ERR_ARG, "cuda launch: lane %d has no lane_create", lane);
    }
    if (c->lanes[lane].stream != (cudaStream_t)stream) {
        return mot_fail(MOT_ERR_ARG, "cuda launch: lane %d launched on a stream other than the one of its lane_create",
                        lane);
    }
    return mot_cuda_op_launch(l, &c->lanes[lane].k, (mot_cuda_stream)stream) != MOT_OK;
}

static void api_range(void *, const char *name) {
    if (name) {
        nvtxRangePushA(name);
    } else {
        nvtxRangePop();
    }
}

static uint64_t api_range_start(void *, const char *name) { return nvtxRangeStartA(name); }

static void api_range_end(void *, uint64_t id) { nvtxRangeEnd((nvtxRangeId_t)id); }

// Two buffers of `bytes` on a stream of our own; one warm-up copy, then reps timed copies.
// The buffers are freed before returning: this runs between benchmark runs, never captured.
static int api_copy_bandwidth(void *ctx, size_t bytes, int reps, double *gbs) {
    MOT_CUDA_CHECK(cudaSetDevice(((api_ctx *)ctx)->device));
    void *a = NULL, *b = NULL;
    cudaStream_t s = NULL;
    cudaEvent_t t0 = NULL, t1 = NULL;
    float ms = 0.0f;
    cudaError_t err = cudaMalloc(&a, bytes);
    if (err == cudaSuccess) err = cudaMalloc(&b, bytes);
    if (err == cudaSuccess) err = cudaMemset(a, 1, bytes);
    if (err == cudaSuccess) err = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    if (err == cudaSuccess) err = cudaEventCreate(&t0);
    if (err == cudaSuccess) err = cudaEventCreate(&t1);
    if (err == cudaSuccess) err = cudaDeviceSynchronize();
    if (err == cudaSuccess) err = cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s); // warm-up
    if (err == cudaSuccess) err = cudaEventRecord(t0, s);
    for (int i = 0; i < reps && err == cudaSuccess; i++) {
        err = cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s);
    }
    if (err == cudaSuccess) err = cudaEventRecord(t1, s);
    if (err == cudaSuccess) err = cudaEventSynchronize(t1);
    if (err == cudaSuccess) err = cudaEventElapsedTime(&ms, t0, t1);
    if (t0) cudaEventDestroy(t0);
    if (t1) cudaEventDestroy(t1);
    if (s) cudaStreamDestroy(s);
    cudaFree(a);
    cudaFree(b);
    if (err != cudaSuccess) {
        return mot_fail(MOT_ERR_INTERNAL, "cuda copy bandwidth over 2 x %zu bytes: %s", bytes, cudaGetErrorString(err));
    }
    *gbs = ms > 0.0f ? 2.0 * (double)bytes * reps / (ms * 1e-3) / 1e9 : 0.0;
    return 0;
}

static int api_mem_info(void *ctx, size_t *used, size_t *total) {
    size_t free_b = 0, total_b = 0;
    MOT_CUDA_CHECK(cudaSetDevice(((api_ctx *)ctx)->device));
    MOT_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    *used = total_b - free_b;
    *total = total_b;
    return 0;
}

static void api_destroy(void *ctx) {
    api_ctx *c = (api_ctx *)ctx;
    if (!c) {
        return;
    }
    for (int i = 0; i < MOT_MAX_LANES; i++) {
        lane_free(&c->lanes[i]);
    }
    stage_free(c);
    delete c;
}

extern "C" mot_status mot_gpu_api_cuda_create(int device, mot_gpu_api *out) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || device < 0 || device >= n) {
        cudaGetLastError();
        return mot_fail(MOT_ERR_UNSUPPORTED, "--backend cuda: no CUDA device %d on this machine (%d found)", device, n);
    }
    MOT_CUDA_CHECK(cudaSetDevice(device));
    api_ctx *c = new (std::nothrow) api_ctx();
    if (!c) {
        return mot_fail(MOT_ERR_NOMEM, "cuda: out of host memory");
    }
    c->device = device;
    mot_gpu_api api = {};
    api.ctx = c;
    api.name = "cuda";
    api.stream_create = api_stream_create;
    api.stream_destroy = api_stream_destroy;
    api.event_create = api_event_create;
    api.event_destroy = api_event_destroy;
    api.event_record = api_event_record;
    api.stream_wait_event = api_stream_wait_event;
    api.stream_synchronize = api_stream_synchronize;
    api.begin_capture = api_begin_capture;
    api.end_capture = api_end_capture;
    api.graph_instantiate = api_graph_instantiate;
    api.graph_launch = api_graph_launch;
    api.graph_destroy = api_graph_destroy;
    api.alloc = api_alloc;
    api.free = api_free;
    api.copy_h2d = api_copy_h2d;
    api.copy_d2h = api_copy_d2h;
    api.lane_create = api_lane_create;
    api.launch = api_launch;
    api.timer_create = api_timer_create;
    api.timer_record = api_timer_record;
    api.timer_elapsed = api_timer_elapsed;
    api.range = api_range;
    api.range_start = api_range_start;
    api.range_end = api_range_end;
    api.copy_bandwidth = api_copy_bandwidth;
    api.mem_info = api_mem_info;
    api.destroy = api_destroy;
    *out = api;
    return MOT_OK;
}
