/* TEMPORARY (while the hand-written scheduler path exists): every plan lowered from the
 * expanded graph equals, op for op and instruction for instruction, the hand-written one, for
 * every ordered routed set (up to 3 lanes) of each pipeline given, prefill and decode, and a
 * single expert alone (prefill, decode, prefill chunk).
 * Usage: test_plan_lowering PIPELINE.yaml... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "runtime/router.h"
#include "scheduler/arena.h"

extern int mot_plan_compile_use_legacy;

static int failures, compared;

static void compare(const mot_plan_source *src, const char *what) {
    mot_arena_layout layout;
    if (mot_arena_plan(src, &layout) != MOT_OK) {
        printf("FAIL %s: arena: %s\n", what, mot_last_error());
        failures++;
        return;
    }
    for (int ph = 0; ph < MOT_PHASE_COUNT; ph++) {
        if (ph == MOT_PHASE_PREFILL_CHUNK && src->stacks > 0) {
            continue;
        }
        mot_plan *a = NULL, *b = NULL;
        mot_plan_compile_use_legacy = 1;
        mot_status sa = mot_plan_compile(src, &layout, (mot_phase)ph, &a);
        mot_plan_compile_use_legacy = 0;
        mot_status sb = mot_plan_compile(src, &layout, (mot_phase)ph, &b);
        if (sa != MOT_OK || sb != MOT_OK) {
            printf("FAIL %s %s: compile: %s\n", what, mot_phase_name((mot_phase)ph), mot_last_error());
            failures++;
        } else {
            int same = a->n_ops == b->n_ops && a->n_instrs == b->n_instrs && a->n_events == b->n_events &&
                       a->n_nodes == b->n_nodes && !memcmp(&a->key, &b->key, sizeof a->key) &&
                       !memcmp(a->prog, b->prog, sizeof *a->prog * (size_t)a->n_instrs);
            for (int i = 0; same && i < a->n_ops; i++) {
                same = !memcmp(&a->ops[i], &b->ops[i], sizeof a->ops[i]);
                if (!same) {
                    printf("  op %d differs: %s/%s\n", i, mot_op_kind_name(a->ops[i].kind),
                           mot_op_kind_name(b->ops[i].kind));
                }
            }
            if (!same) {
                printf("FAIL %s %s: plans differ (ops %d/%d, instrs %d/%d, events %d/%d, nodes %d/%d)\n", what,
                       mot_phase_name((mot_phase)ph), a->n_ops, b->n_ops, a->n_instrs, b->n_instrs, a->n_events,
                       b->n_events, a->n_nodes, b->n_nodes);
                mot_plan_print(a, stdout);
                printf("----\n");
                mot_plan_print(b, stdout);
                failures++;
                exit(1);
            }
            compared++;
        }
        mot_plan_free(a);
        mot_plan_free(b);
    }
}

int main(int argc, char **argv) {
    for (int f = 1; f < argc; f++) {
        mot_model *m;
        if (mot_model_load(argv[f], 1, &m) != MOT_OK) {
            printf("FAIL %s: %s\n", argv[f], mot_last_error());
            return 1;
        }
        const int M = m->n_experts;
        int act[3];
        for (int k = 1; k <= 3 && k <= M; k++) {
            /* every ordered k-tuple of distinct experts */
            int n_tuples = 1;
            for (int i = 0; i < k; i++) n_tuples *= M;
            for (int t = 0; t < n_tuples; t++) {
                int x = t, ok = 1;
                for (int i = 0; i < k; i++) {
                    act[i] = x % M, x /= M;
                    for (int j = 0; j < i; j++) ok &= act[j] != act[i];
                }
                if (!ok) continue;
                mot_route r = {.n_experts = M, .k = k, .active = act};
                mot_plan_source src;
                if (mot_plan_source_from_route(m, &r, t & 1, &src) != MOT_OK) {
                    printf("FAIL source: %s\n", mot_last_error());
                    return 1;
                }
                for (int i = 0; i < k; i++) src.ctx[i] = 32 + 8 * i, src.max_rows[i] = 8;
                char what[256];
                snprintf(what, sizeof what, "%s route %d", argv[f], t);
                compare(&src, what);
            }
        }
        for (int e = 0; e < M; e++) {
            mot_plan_source src;
            mot_plan_source_single(m->experts[e], 64, 16, &src);
            compare(&src, "single expert");
        }
        mot_model_free(m);
    }
    printf("%d plans compared, %d failures\n", compared, failures);
    return failures != 0;
}
