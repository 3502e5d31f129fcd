/* Benchmark records, printed like llama-bench: one row per test (ppN / tgN) with the mean and
 * standard deviation of tokens/s over the repetitions, plus the context (machine, commit,
 * threads) so that a result can be compared later. */
#ifndef MOT_PROFILING_BENCH_RECORD_H
#define MOT_PROFILING_BENCH_RECORD_H

#include <stdint.h>
#include <stdio.h>

#define MOT_BENCH_MAX_REPS 64

typedef struct {
    char test[32];          /* "pp128", "tg64", "tg64 @ d2048" */
    int n_prompt, n_gen, n_depth;
    int n_threads;
    int n_reps;
    double samples_ts[MOT_BENCH_MAX_REPS];
    double avg_ts, stddev_ts;
    double bw_fraction;     /* tg only: decode bytes/s over the measured read bandwidth; 0 = n/a */
} mot_bench_result;

typedef struct {
    const char *model;        /* the model folder */
    const char *model_type;   /* e.g. "llama 576x30 BF16" */
    uint64_t model_size;      /* weight bytes */
    uint64_t model_n_params;
    const char *backend;      /* "CPU" */
    const char *build_commit;
    char cpu_info[128];
    double read_bw_gbs;       /* CPU: plain read of the decode step's weights (interleaved with
                                 the tg runs); CUDA: device-to-device copies, bytes read +
                                 written per second. GB/s; 0 = not measured */
    uint64_t read_bytes;      /* bytes a decode step reads (the probe's pass) */
    int device;               /* CUDA: the device figures below are set */
    uint64_t device_mem_used, device_mem_total; /* cudaMemGetInfo after the runs (every process) */
    uint64_t device_weights, device_arena;      /* this run's uploads; its arena (KV, activations) */
    uint64_t peak_rss;        /* bytes */
    uint64_t kv_bytes;        /* KV cache bytes at the benchmark context */
    const char *schedule;     /* the schedule file, or NULL for the defaults */
    char schedule_desc[160];  /* its choices in one line (mot_schedule_describe) */
} mot_bench_context;

/* Fills avg_ts and stddev_ts (sample standard deviation) from samples_ts. */
void mot_bench_finish(mot_bench_result *r);
/* CPU model name from /proc/cpuinfo. */
void mot_bench_cpu_info(char *buf, size_t cap);
/* Peak resident set size of this process in bytes. */
uint64_t mot_bench_peak_rss(void);

void mot_bench_print_md(FILE *f, const mot_bench_context *ctx, const mot_bench_result *r, int n);
void mot_bench_print_json(FILE *f, const mot_bench_context *ctx, const mot_bench_result *r, int n);

#endif
