/* A schedule: every tunable choice of a run, separate from what is computed (the pipeline).
 * Loaded from YAML (the schedules folder, docs/schedules.md), validated like pipeline files
 * ("FILE:LINE:COL: error: ..."), written back by `mot tune` with its measurements. */
#ifndef MOT_SCHEDULER_SCHEDULE_H
#define MOT_SCHEDULER_SCHEDULE_H

#include <stdio.h>

#include "mot.h"
#include "ops/step_state.h"

typedef struct {
    int threads;                        /* OpenMP threads; 0 = all cores */
    int concurrent_lanes;               /* CPU: lanes side by side (1) or one after another (0) */
    int n_threads_per_lane;             /* concurrent: group sizes given (0 = even split) */
    int threads_per_lane[MOT_MAX_LANES];
    int gemm_from_f32;                  /* CPU: rows from which the packed GEMM replaces the GEMV */
    int gemm_from_lowp;                 /*      (f16/bf16 weights) */
    int gemm_kc, gemm_mc;               /* CPU: the GEMM's blocking: k columns per block, tokens per chunk */
    int graphs;                         /* CUDA: capture decode plans into CUDA Graphs */
    int graph_cache;                    /* CUDA: graphs kept (LRU) */
    int plan_cache;                     /* plans kept (LRU) */
    int kv_layout;                      /* 0 = "f32": f32 [layer][kv head][position][hd] (the only one) */
    int precision;                      /* 0 = "exact" (f32 activations), 1 = "fast" (CPU: int8
                                           activations against quantized weights; SPEC 1.7) */
    int quant_gemv;                     /* CPU: how the decode GEMV streams quantized rows:
                                           MOT_QUANT_GEMV_AUTO / _INTERLEAVED / _SEQUENTIAL /
                                           _LOCKSTEP */
    int fuse;                           /* 1 = "on": decode plans fuse RMSNORM + MATMUL (+ SWIGLU / ROPE_APPEND)
                                           into one op (scheduler/plan_fuse.c); 0 = "off" */
} mot_schedule;

void mot_schedule_defaults(mot_schedule *s);

/* Threads: at most MOT_THREADS_PER_CORE_MAX per available core (omp_get_num_procs: the cores
 * this process may run on). More only oversubscribes: every op's barrier then waits on
 * descheduled threads (4096 threads on 2 cores turned a tiny run into 31 s). */
#define MOT_THREADS_PER_CORE_MAX 4
int mot_threads_max(void);

/* Reads FILE over the defaults. Errors name FILE:LINE:COL: unknown keys, wrong types, values
 * out of range, an unknown choice. */
mot_status mot_schedule_load(const char *path, mot_schedule *s);

/* The schedule as YAML that mot_schedule_load reads back; `header` lines (may be NULL) are
 * written first as comments. */
void mot_schedule_write(const mot_schedule *s, const char *header, FILE *f);

/* One line: "threads 2, lanes serial, gemm_from 8/8, gemm blocking kc 256 mc 512, graphs on (8),
 * plan cache 8" (threads per lane after the lane mode when given: "lanes concurrent 1+1"). */
void mot_schedule_describe(const mot_schedule *s, char *buf, size_t cap);

/* Applies the CPU-global choices (GEMM thresholds, threads, precision). */
void mot_schedule_apply_cpu(const mot_schedule *s);

#endif
