/* A profiling session: slices of time per plan node on one track per lane (plus a host track
 * for the router and the passes), written as Chrome Trace Event JSON (Perfetto,
 * chrome://tracing) and summed up for the terminal. Recording is off unless a backend is
 * given a trace (mot_backend_options.trace), so an unprofiled run pays nothing. */
#ifndef MOT_PROFILING_TRACE_H
#define MOT_PROFILING_TRACE_H

#include <stdint.h>
#include <stdio.h>

#include "mot.h"

#define MOT_TRACE_HOST (-1) /* the host track: router, passes */

/* Slice phases past the inference passes' mot_phase (0 prefill, 1 decode, 2 prefill_chunk):
 * a training pass's forward and backward plans (`mot train --profile`). */
enum { MOT_TRACE_PHASE_FORWARD = 3, MOT_TRACE_PHASE_BACKWARD = 4 };

typedef struct {
    const char *name;  /* "stack", "projector", "attention", "sampler", "router", "prefill", "decode" */
    int track;         /* lane, or MOT_TRACE_HOST */
    double ts, dur;    /* seconds since the trace started */
    int expert;        /* pipeline index, -1 when none */
    int stack;         /* interaction stack (the tail = Q), -1 when none */
    int node_id;       /* plan node, -1 for host slices */
    int reverse;       /* projector: 1 for the reverse projection */
    int phase;         /* mot_phase of the pass, or MOT_TRACE_PHASE_FORWARD/BACKWARD */
    int pass;          /* pass number (0 = prefill) */
    int tokens;        /* tokens the lane fed in this pass */
} mot_trace_slice;

typedef struct mot_trace {
    double t0;
    mot_trace_slice *slices;
    int n, cap;
    int failed;                  /* out of memory while recording: the trace is incomplete */
    int n_tracks;
    int cuda_streams;            /* set by the CUDA backend: lane i runs on its own CUDA stream */
    char track_names[16][64];    /* lane i: "lane i: EXPERT" */
    const char *expert_names[64];/* pipeline index -> name (for args) */
    int n_experts;
    int pass;                    /* the pass being recorded */
    int phase;
    int prompt_tokens, gen_tokens;
    double prefill_s, decode_s;
} mot_trace;

void mot_trace_init(mot_trace *t);
void mot_trace_free(mot_trace *t);
double mot_trace_now(const mot_trace *t); /* seconds since init */

/* Appends a slice (thread-safe). */
void mot_trace_add(mot_trace *t, const mot_trace_slice *s);
/* A host slice `name` from t0 (mot_trace_now) to now, in t's current pass and phase; nothing
 * when t is NULL. */
void mot_trace_host_span(mot_trace *t, const char *name, double t0, int tokens);

/* Chrome Trace Event JSON: one "X" event per slice (ts/dur in microseconds), thread-name
 * metadata per track. Written through common/safe_write.h (path absent or a regular file
 * unless force). */
mot_status mot_trace_write(const mot_trace *t, const char *path, int force);

/* The summary: time per node kind and per expert, interaction share per decode step, lane
 * overlap (busy time summed over lanes / wall time of the passes), tokens/s, peak memory. */
void mot_trace_print_summary(const mot_trace *t, FILE *f);

/* The summary of a training run (`mot train --profile`): host time per part (forward and
 * backward passes with their copies, loss, router, optimizer, eval) per step, plan time per
 * node kind in the forward and the backward passes, per expert, tokens/s, peak memory. */
void mot_trace_print_train_summary(const mot_trace *t, FILE *f, int steps, long tokens, double seconds);

#endif
