#include "common/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"

#define SHOW_AFTER_S 1.0   /* quicker loads print nothing */
#define REDRAW_S 0.2

static int enabled = 1;

void mot_progress_enable(int on) { enabled = on; }

/* -1 off, 0 summary line (of loads of 1 s+), 1 terminal line, 2 summary line always */
static int mode(void) {
    if (!enabled) {
        return -1;
    }
    const char *env = getenv("MOT_PROGRESS");
    if (env && !strcmp(env, "0")) {
        return -1;
    }
    if (env && (!strcmp(env, "1") || !strcmp(env, "2"))) {
        return env[0] - '0';
    }
    return isatty(STDERR_FILENO) ? 1 : 0;
}

static void draw(const mot_progress *p, double t, int final) {
    const double secs = t - p->start, gb = (double)p->done / 1e9;
    const double rate = secs > 0 ? gb / secs : 0.0;
    if (final && !p->shown) {
        fprintf(stderr, "mot: %s: %.2f GB in %.1f s, %.2f GB/s\n", p->what, gb, secs, rate);
        return;
    }
    const int pct = p->total ? (int)(100.0 * (double)p->done / (double)p->total) : 100;
    fprintf(stderr, "\r\033[Kmot: %s: %.2f / %.2f GB (%d%%), %.1f s, %.2f GB/s%s", p->what, gb,
            (double)p->total / 1e9, pct > 100 ? 100 : pct, secs, rate, final ? "\n" : "");
    fflush(stderr);
}

void mot_progress_begin(mot_progress *p, const char *verb, const char *what, uint64_t total) {
    memset(p, 0, sizeof *p);
    snprintf(p->what, sizeof p->what, "%s %s", verb, what);
    p->total = total;
    p->start = p->last = mot_now();
    p->active = mode() >= 0;
}

void mot_progress_update(mot_progress *p, uint64_t done) {
    p->done = done;
    if (!p->active) {
        return;
    }
    const double t = mot_now();
    if (t - p->start < SHOW_AFTER_S || t - p->last < REDRAW_S || mode() != 1) {
        return;
    }
    p->last = t;
    p->shown = 1;
    draw(p, t, 0);
}

void mot_progress_end(mot_progress *p) {
    if (p->active) {
        const double t = mot_now();
        if (p->shown || t - p->start >= SHOW_AFTER_S || mode() == 2) {
            if (p->shown) {
                p->total = p->done; /* the line ends at 100% */
            }
            draw(p, t, 1);
        }
    }
    p->active = 0;
}
