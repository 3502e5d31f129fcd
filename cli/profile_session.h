/* --profile FILE for `mot run` and `mot bench`: a trace handed to the backend, the router's
 * slice, then the Chrome trace written and the summary printed on stderr. */
#ifndef MOT_CLI_PROFILE_SESSION_H
#define MOT_CLI_PROFILE_SESSION_H

#include "mot.h"
#include "profiling/trace.h"

typedef struct {
    const char *path; /* NULL: profiling off */
    int force;        /* --force: a non-regular path is written in place (common/safe_write.h) */
    mot_trace trace;
} mot_profile_session;

/* Starts a session when path is set (a zero-initialized session is an unprofiled one); fails
 * (before anything runs) when the trace file cannot be created there or is refused (a
 * symlink, a device... unless force; common/safe_write.h). */
mot_status mot_profile_begin(mot_profile_session *p, const char *path, int force);
/* The trace to hand to the backend (mot_backend_options.trace): NULL when not profiling. */
struct mot_trace *mot_profile_trace(mot_profile_session *p);
/* Names lane i's track "lane i: NAME" and expert index -> name for the slices' arguments. */
void mot_profile_lane(mot_profile_session *p, int lane, int expert, const char *name);
/* The router's time as a host slice. */
void mot_profile_router(mot_profile_session *p, double t0, double t1);
/* Writes the trace and prints the summary (when st is MOT_OK); frees. Returns st or the
 * write error. */
mot_status mot_profile_end(mot_profile_session *p, mot_status st);

#endif
