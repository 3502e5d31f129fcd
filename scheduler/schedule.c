#include "scheduler/schedule.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "graph/yaml_tree.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/quant.h"

static const char *const keys[] = {"threads", "lanes", "threads_per_lane", "gemm_from_f32", "gemm_from_lowp",
                                   "gemm_kc", "gemm_mc", "graphs", "graph_cache", "plan_cache", "kv_layout", "precision", "quant_gemv", "fuse", NULL};
static const char *const lane_modes[] = {"serial", "concurrent", NULL};
static const char *const booleans[] = {"false", "true", NULL};
static const char *const kv_layouts[] = {"f32", NULL};
static const char *const precisions[] = {"exact", "fast", NULL};
static const char *const on_off[] = {"off", "on", NULL};
/* indexed by MOT_QUANT_GEMV_* (kernels/cpu/kernels.h) */
static const char *const quant_gemv_modes[] = {"auto", "interleaved", "sequential", "lockstep", NULL};

void mot_schedule_defaults(mot_schedule *s) {
    memset(s, 0, sizeof *s);
    s->gemm_from_f32 = 8;   /* kernels/cpu/matmul.c: the GEMV/GEMM crossover measured here */
    s->gemm_from_lowp = 8;
    s->gemm_kc = MOT_GEMM_KC_DEFAULT; /* kernels/cpu/matmul_gemm.c: the blocking measured here */
    s->gemm_mc = MOT_GEMM_MC_DEFAULT;
    s->graphs = 1;
    s->graph_cache = 8;
    s->plan_cache = 8;
    s->fuse = 1;
}

int mot_threads_max(void) {
    const int cores = omp_get_num_procs();
    return MOT_THREADS_PER_CORE_MAX * (cores > 0 ? cores : 1);
}

/* key: N in [lo, mot_threads_max()], the limit explained when N is past it. */
static mot_status threads_key(yaml_tree *t, yaml_node_t *v, const char *what, int lo, int *out) {
    int n = 0;
    MOT_TRY(yaml_tree_int(t, v, what, lo, 1 << 30, &n));
    const int max = mot_threads_max();
    if (n > max) {
        return yaml_tree_fail(t, yaml_tree_pos(v), "%s: %d is more than %d threads (%d per core, %d cores available)",
                              what, n, max, MOT_THREADS_PER_CORE_MAX, omp_get_num_procs());
    }
    *out = n;
    return MOT_OK;
}

static mot_status parse(yaml_tree *t, mot_schedule *s) {
    yaml_node_t *root = yaml_tree_root(t);
    if (!root) {
        return MOT_OK; /* an empty file: the defaults */
    }
    MOT_TRY(yaml_tree_expect_mapping(t, root, "schedule"));
    MOT_TRY(yaml_tree_check_keys(t, root, "schedule", keys));
    yaml_node_t *v;
    if ((v = yaml_tree_get(t, root, "threads", NULL))) MOT_TRY(threads_key(t, v, "threads", 0, &s->threads));
    if ((v = yaml_tree_get(t, root, "lanes", NULL))) MOT_TRY(yaml_tree_choice(t, v, "lanes", lane_modes, &s->concurrent_lanes));
    if ((v = yaml_tree_get(t, root, "threads_per_lane", NULL))) {
        MOT_TRY(yaml_tree_expect_sequence(t, v, "threads_per_lane"));
        const int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (n > MOT_MAX_LANES) {
            return yaml_tree_fail(t, yaml_tree_pos(v), "threads_per_lane: %d entries, at most %d (one per active expert)",
                                  n, MOT_MAX_LANES);
        }
        for (int i = 0; i < n; i++) {
            char what[40];
            snprintf(what, sizeof what, "threads_per_lane[%d]", i);
            MOT_TRY(threads_key(t, yaml_tree_node(t, v->data.sequence.items.start[i]), what, 1, &s->threads_per_lane[i]));
        }
        s->n_threads_per_lane = n;
    }
    if ((v = yaml_tree_get(t, root, "gemm_from_f32", NULL))) MOT_TRY(yaml_tree_int(t, v, "gemm_from_f32", 2, 1 << 20, &s->gemm_from_f32));
    if ((v = yaml_tree_get(t, root, "gemm_from_lowp", NULL))) MOT_TRY(yaml_tree_int(t, v, "gemm_from_lowp", 2, 1 << 20, &s->gemm_from_lowp));
    if ((v = yaml_tree_get(t, root, "gemm_kc", NULL))) MOT_TRY(yaml_tree_int(t, v, "gemm_kc", 8, 1 << 16, &s->gemm_kc));
    if ((v = yaml_tree_get(t, root, "gemm_mc", NULL))) {
        MOT_TRY(yaml_tree_int(t, v, "gemm_mc", 4, 1 << 20, &s->gemm_mc));
        if (s->gemm_mc % 4 != 0) {
            return yaml_tree_fail(t, yaml_tree_pos(v), "gemm_mc: %d is not a multiple of 4 (the GEMM's token tile)",
                                  s->gemm_mc);
        }
    }
    if ((v = yaml_tree_get(t, root, "graphs", NULL))) MOT_TRY(yaml_tree_choice(t, v, "graphs", booleans, &s->graphs));
    if ((v = yaml_tree_get(t, root, "graph_cache", NULL))) MOT_TRY(yaml_tree_int(t, v, "graph_cache", 1, 1024, &s->graph_cache));
    if ((v = yaml_tree_get(t, root, "plan_cache", NULL))) MOT_TRY(yaml_tree_int(t, v, "plan_cache", 2, 1024, &s->plan_cache));
    if ((v = yaml_tree_get(t, root, "kv_layout", NULL))) MOT_TRY(yaml_tree_choice(t, v, "kv_layout", kv_layouts, &s->kv_layout));
    if ((v = yaml_tree_get(t, root, "precision", NULL))) MOT_TRY(yaml_tree_choice(t, v, "precision", precisions, &s->precision));
    if ((v = yaml_tree_get(t, root, "quant_gemv", NULL))) MOT_TRY(yaml_tree_choice(t, v, "quant_gemv", quant_gemv_modes, &s->quant_gemv));
    if ((v = yaml_tree_get(t, root, "fuse", NULL))) MOT_TRY(yaml_tree_choice(t, v, "fuse", on_off, &s->fuse));
    return MOT_OK;
}

mot_status mot_schedule_load(const char *path, mot_schedule *s) {
    /* Through yaml_tree_load's mot_read_file_max: a FIFO is refused without blocking, a
     * device or an oversized file without reading it. */
    yaml_tree t;
    MOT_TRY(yaml_tree_load(&t, path, "schedule"));
    mot_status st = parse(&t, s);
    yaml_tree_free(&t);
    return st;
}

void mot_schedule_write(const mot_schedule *s, const char *header, FILE *f) {
    if (header) {
        for (const char *p = header; *p;) {
            const char *nl = strchr(p, '\n');
            int len = nl ? (int)(nl - p) : (int)strlen(p);
            fprintf(f, "# %.*s\n", len, p);
            p += len + (nl ? 1 : 0);
        }
    }
    fprintf(f, "threads: %d            # 0 = all cores\n", s->threads);
    fprintf(f, "lanes: %s\n", lane_modes[s->concurrent_lanes]);
    fprintf(f, "threads_per_lane: [");
    for (int i = 0; i < s->n_threads_per_lane; i++) fprintf(f, "%s%d", i ? ", " : "", s->threads_per_lane[i]);
    fprintf(f, "]\n");
    fprintf(f, "gemm_from_f32: %d\ngemm_from_lowp: %d\n", s->gemm_from_f32, s->gemm_from_lowp);
    fprintf(f, "gemm_kc: %d\ngemm_mc: %d\n", s->gemm_kc, s->gemm_mc);
    fprintf(f, "graphs: %s\ngraph_cache: %d\nplan_cache: %d\nkv_layout: %s\n", booleans[s->graphs], s->graph_cache,
            s->plan_cache, kv_layouts[s->kv_layout]);
    fprintf(f, "precision: %s\n", precisions[s->precision]);
    fprintf(f, "quant_gemv: %s\n", quant_gemv_modes[s->quant_gemv]);
    fprintf(f, "fuse: %s\n", on_off[s->fuse]);
}

void mot_schedule_describe(const mot_schedule *s, char *buf, size_t cap) {
    char threads[16];
    snprintf(threads, sizeof threads, "%d", s->threads);
    char per_lane[64] = "";
    for (int i = 0, at = 0; i < s->n_threads_per_lane && at < (int)sizeof per_lane; i++) {
        at += snprintf(per_lane + at, sizeof per_lane - (size_t)at, "%s%d", i ? "+" : " ", s->threads_per_lane[i]);
    }
    snprintf(buf, cap, "threads %s, lanes %s%s, gemm_from %d/%d, gemm blocking kc %d mc %d, graphs %s (%d), plan cache %d, precision %s, quant gemv %s, fuse %s",
             s->threads ? threads : "all", lane_modes[s->concurrent_lanes], per_lane, s->gemm_from_f32,
             s->gemm_from_lowp, s->gemm_kc, s->gemm_mc, s->graphs ? "on" : "off", s->graph_cache, s->plan_cache,
             precisions[s->precision], quant_gemv_modes[s->quant_gemv], on_off[s->fuse]);
}

void mot_schedule_apply_cpu(const mot_schedule *s) {
    mot_cpu_set_gemm_from(s->gemm_from_f32, s->gemm_from_lowp);
    mot_cpu_set_gemm_blocking(s->gemm_kc, s->gemm_mc);
    mot_cpu_set_precision_fast(s->precision == 1);
    mot_cpu_set_quant_gemv(s->quant_gemv);
    if (s->threads > 0) {
        omp_set_num_threads(s->threads);
    }
}
