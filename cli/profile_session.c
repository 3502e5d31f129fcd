#include "cli/profile_session.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/safe_write.h"

mot_status mot_profile_begin(mot_profile_session *p, const char *path, int force) {
    p->path = NULL;
    p->force = force;
    mot_trace_init(&p->trace);
    if (!path) {
        return MOT_OK;
    }
    /* Refused before anything runs; the file itself is written (temp + rename) at the end. */
    const mot_status st = mot_out_check(path, force);
    if (st != MOT_OK) {
        return mot_fail_prefix(st, "--profile");
    }
    p->path = path;
    return MOT_OK;
}

struct mot_trace *mot_profile_trace(mot_profile_session *p) { return p->path ? &p->trace : NULL; }

void mot_profile_lane(mot_profile_session *p, int lane, int expert, const char *name) {
    mot_trace *t = &p->trace;
    if (!p->path || lane < 0 || lane >= 16 || expert < 0 || expert >= 64) {
        return;
    }
    snprintf(t->track_names[lane], sizeof t->track_names[lane], "lane %d: %s", lane, name);
    if (lane + 1 > t->n_tracks) t->n_tracks = lane + 1;
    t->expert_names[expert] = name;
    if (expert + 1 > t->n_experts) t->n_experts = expert + 1;
}

void mot_profile_router(mot_profile_session *p, double t0, double t1) {
    if (p->path) {
        const mot_trace_slice s = {.name = "router", .track = MOT_TRACE_HOST, .ts = t0 - p->trace.t0,
                                   .dur = t1 - t0, .expert = -1, .stack = -1, .node_id = -1};
        mot_trace_add(&p->trace, &s);
    }
}

mot_status mot_profile_end(mot_profile_session *p, mot_status st) {
    if (!p->path) {
        mot_trace_free(&p->trace);
        return st;
    }
    if (st == MOT_OK) {
        st = mot_trace_write(&p->trace, p->path, p->force);
        if (st == MOT_OK) {
            mot_trace_print_summary(&p->trace, stderr);
            fprintf(stderr, "mot: trace written to %s (open it in https://ui.perfetto.dev or chrome://tracing)\n",
                    p->path);
        }
    }
    mot_trace_free(&p->trace);
    return st;
}
