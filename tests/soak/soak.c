/* Soak: many routed requests through the library in one process, RSS flat (issue 20).
 *
 *   soak PIPELINE.yaml [REQUESTS] [WARMUP] [EVERY] [LIMIT%]   defaults 10000, 1000, 500, 1
 *
 * LIMIT% < 0: print the curve, judge nothing (sanitized builds: ASan's quarantine and shadow
 * memory grow with the run; there the soak is a leak and UB check over many requests).
 *
 * Loads the pipeline once, then for each request: a short prompt made from the request's
 * number (so the router picks different sets and primaries; every fourth request forces the
 * next ordered pair instead), route, generate 2 tokens, free.
 * Odd requests run the lanes concurrently and keep one plan (the decode plan evicts the
 * prefill's), even ones run them serially with the default cache, so plans, arenas, sessions
 * and routes are built and freed all the time. RSS (/proc/self/statm) is sampled every EVERY
 * requests once WARMUP are done, as is and after malloc_trim(0); the run fails when the last
 * trimmed sample is more than 1% above the first (post-warm-up) one, or when routing never
 * changed the set. Prints the curve. Run it with OMP_WAIT_POLICY=passive on a busy machine
 * (ctest does): spinning OpenMP threads otherwise make it several times slower. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <unistd.h>

#include "common/error.h"
#include "common/clock.h"
#include "runtime/generate.h"
#include "runtime/mot_generate.h"

#define MAX_SETS 64

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2) {
        fprintf(stderr, "soak: cannot read /proc/self/statm\n");
        exit(1);
    }
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A short prompt from i: two to five words picked by i's digits. */
static void make_prompt(int i, char *out, size_t cap) {
    static const char *words[] = {"the", "fox", "sums", "integral", "poem", "river", "code", "prime",
                                  "whale", "lemma", "bread", "rust", "theorem", "sing", "loop", "ocean"};
    unsigned x = (unsigned)i * 2654435761u + 12345u;
    const int n = 2 + (int)(x % 4);
    size_t len = 0;
    out[0] = 0;
    for (int w = 0; w < n && len + 16 < cap; w++) {
        x = x * 1103515245u + 12345u;
        len += (size_t)snprintf(out + len, cap - len, "%s%s", w ? " " : "", words[(x >> 16) % 16]);
    }
}

/* The routed set as a key: primary first, then the others in route order. */
static int set_index(const mot_route *r, int keys[MAX_SETS][8], int *n_keys) {
    int key[8] = {0};
    for (int i = 0; i < r->k && i < 8; i++) {
        key[i] = r->active[i] + 1;
    }
    for (int s = 0; s < *n_keys; s++) {
        if (!memcmp(keys[s], key, sizeof key)) {
            return s;
        }
    }
    if (*n_keys < MAX_SETS) {
        memcpy(keys[*n_keys], key, sizeof key);
        return (*n_keys)++;
    }
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: soak PIPELINE.yaml [REQUESTS] [WARMUP] [EVERY] [LIMIT%%]\n");
        return 2;
    }
    const int requests = argc > 2 ? atoi(argv[2]) : 10000;
    const int warmup = argc > 3 ? atoi(argv[3]) : 1000;
    const int every = argc > 4 ? atoi(argv[4]) : 500;
    const double limit = argc > 5 ? atof(argv[5]) : 1.0;
    if (requests <= warmup || warmup < 1 || every <= 0) {
        fprintf(stderr, "soak: need REQUESTS > WARMUP >= 1 and EVERY > 0\n");
        return 2;
    }
    omp_set_num_threads(2);
    mot_model *m = NULL;
    if (mot_model_load(argv[1], 1, &m) != MOT_OK) {
        fprintf(stderr, "soak: %s\n", mot_last_error());
        return 1;
    }
    int keys[MAX_SETS][8], n_keys = 0, uses[MAX_SETS] = {0};
    long base = 0, last = 0, peak = 0;
    double t0 = mot_now();
    printf("soak: %d requests, RSS every %d after %d of warm-up\n", requests, every, warmup);
    printf("%8s %10s %10s %8s %8s\n", "request", "RSS KiB", "trimmed", "vs base", "seconds");
    for (int i = 1; i <= requests; i++) {
        char prompt[128];
        make_prompt(i, prompt, sizeof prompt);
        mot_route route = {0};
        mot_session session = {0};
        mot_generate_opts o = {.n_predict = 2};
        o.backend.kind = MOT_BACKEND_CPU;
        o.backend.concurrent_lanes = i % 2;
        o.backend.plan_cache = i % 2 ? 1 : 0;
        /* Every fourth request forces a set (all ordered pairs in turn): the router alone may
         * favour a few sets. */
        char forced[64] = "";
        if (i % 4 == 0 && m->n_experts > 1) {
            const int n = m->n_experts, a = (i / 4) % n, b = (a + 1 + (i / 4 / n) % (n - 1)) % n;
            snprintf(forced, sizeof forced, "%s,%s", m->pipe->experts[a].name, m->pipe->experts[b].name);
        }
        mot_status st = mot_route_prompt(m, prompt, forced[0] ? forced : NULL, NULL, 0, &route);
        if (st == MOT_OK) {
            const int s = set_index(&route, keys, &n_keys);
            uses[s >= 0 ? s : 0]++;
            st = mot_session_generate(m, &route, prompt, &o, &session);
        }
        if (st == MOT_OK && session.lanes[0].sampled.n < 1) {
            st = mot_fail(MOT_ERR_INTERNAL, "no token generated");
        }
        if (st != MOT_OK) {
            fprintf(stderr, "soak: request %d (\"%s\"): %s\n", i, prompt, mot_last_error());
            return 1;
        }
        mot_session_free(&session);
        mot_route_free(&route);
        if (i >= warmup && ((i - warmup) % every == 0 || i == requests)) {
            /* Judged after malloc_trim: glibc keeps freed heap resident (a sample may catch a few
             * hundred KiB of it, gone at the next), which is not what the program holds. */
            const long raw = rss_kib();
            malloc_trim(0);
            last = rss_kib();
            if (i == warmup) {
                base = last;
            }
            peak = last > peak ? last : peak;
            printf("%8d %10ld %10ld %+7.2f%% %8.1f\n", i, raw, last, 100.0 * (double)(last - base) / (double)base,
                   mot_now() - t0);
            fflush(stdout);
        }
    }
    mot_model_free(m);
    printf("soak: %d routed sets:", n_keys);
    for (int s = 0; s < n_keys; s++) {
        printf(" [");
        for (int j = 0; j < 8 && keys[s][j]; j++) {
            printf("%s%d", j ? "," : "", keys[s][j] - 1);
        }
        printf("] x%d", uses[s]);
    }
    printf("\n");
    const double growth = 100.0 * (double)(last - base) / (double)base;
    printf("soak: RSS after warm-up %ld KiB, final %ld KiB (%+.2f%%), peak %ld KiB, %.1f s\n", base, last,
           growth, peak, mot_now() - t0);
    int failed = 0;
    if (n_keys < 2) {
        printf("FAIL: routing chose the same set for every prompt\n");
        failed = 1;
    }
    if (limit >= 0 && growth > limit) {
        printf("FAIL: RSS grew by more than %g%% after the warm-up\n", limit);
        failed = 1;
    }
    return failed;
}
