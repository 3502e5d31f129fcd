#include "profiling/bench_record.h"

#include <math.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

void mot_bench_finish(mot_bench_result *r) {
    double sum = 0.0, sq = 0.0;
    for (int i = 0; i < r->n_reps; i++) {
        sum += r->samples_ts[i];
    }
    r->avg_ts = r->n_reps ? sum / r->n_reps : 0.0;
    for (int i = 0; i < r->n_reps; i++) {
        sq += (r->samples_ts[i] - r->avg_ts) * (r->samples_ts[i] - r->avg_ts);
    }
    r->stddev_ts = r->n_reps > 1 ? sqrt(sq / (r->n_reps - 1)) : 0.0;
}

void mot_bench_cpu_info(char *buf, size_t cap) {
    snprintf(buf, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) {
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + (v[1] == ' ');
                v[strcspn(v, "\n")] = 0;
                snprintf(buf, cap, "%s", v);
            }
            break;
        }
    }
    fclose(f);
}

uint64_t mot_bench_peak_rss(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss * 1024;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', f);
        }
        if ((unsigned char)*s < 0x20) {
            fprintf(f, "\\u%04x", *s);
        } else {
            fputc(*s, f);
        }
    }
    fputc('"', f);
}

void mot_bench_print_md(FILE *f, const mot_bench_context *c, const mot_bench_result *r, int n) {
    fprintf(f, "| model | size | params | backend | threads | test | t/s | %% of bandwidth |\n");
    fprintf(f, "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < n; i++) {
        char bw[32] = "";
        if (r[i].bw_fraction > 0) {
            snprintf(bw, sizeof bw, "%.0f%%", 100.0 * r[i].bw_fraction);
        }
        fprintf(f, "| %s | %.2f MiB | %.2f M | %s | %d | %s | %.2f ± %.2f | %s |\n", c->model_type,
                c->model_size / 1048576.0, c->model_n_params / 1e6, c->backend, r[i].n_threads, r[i].test,
                r[i].avg_ts, r[i].stddev_ts, bw);
    }
    fprintf(f, "\nmodel: %s | cpu: %s", c->model, c->cpu_info);
    if (c->read_bw_gbs > 0 && c->device) {
        fprintf(f, " | copy bandwidth: %.1f GB/s (device-to-device copies, read + written; a decode step reads %.1f MiB)",
                c->read_bw_gbs, c->read_bytes / 1048576.0);
    } else if (c->read_bw_gbs > 0) {
        fprintf(f, " | read bandwidth: %.1f GB/s (plain reads of the %.1f MiB a decode step reads)", c->read_bw_gbs,
                c->read_bytes / 1048576.0);
    }
    if (c->device) {
        fprintf(f, " | device memory: %.1f of %.1f MiB in use (weights %.1f MiB, arena %.1f MiB)",
                c->device_mem_used / 1048576.0, c->device_mem_total / 1048576.0, c->device_weights / 1048576.0,
                c->device_arena / 1048576.0);
    }
    fprintf(f, " | peak RSS: %.1f MiB (weights %.1f MiB", c->peak_rss / 1048576.0, c->model_size / 1048576.0);
    if (c->kv_bytes > 0) {
        fprintf(f, " + KV %.1f MiB", c->kv_bytes / 1048576.0);
    }
    fprintf(f, ") | build: %s\n", c->build_commit);
    fprintf(f, "schedule: %s (%s)\n", c->schedule ? c->schedule : "default", c->schedule_desc);
}

void mot_bench_print_json(FILE *f, const mot_bench_context *c, const mot_bench_result *r, int n) {
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(f, "[\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "  {\n    \"build_commit\": ");
        json_str(f, c->build_commit);
        fprintf(f, ",\n    \"cpu_info\": ");
        json_str(f, c->cpu_info);
        fprintf(f, ",\n    \"backends\": ");
        json_str(f, c->backend);
        fprintf(f, ",\n    \"model_filename\": ");
        json_str(f, c->model);
        fprintf(f, ",\n    \"model_type\": ");
        json_str(f, c->model_type);
        fprintf(f, ",\n    \"schedule\": ");
        json_str(f, c->schedule ? c->schedule : "default");
        fprintf(f, ",\n    \"schedule_desc\": ");
        json_str(f, c->schedule_desc);
        fprintf(f, ",\n    \"model_size\": %llu,\n    \"model_n_params\": %llu,\n",
                (unsigned long long)c->model_size, (unsigned long long)c->model_n_params);
        fprintf(f, "    \"n_threads\": %d,\n    \"n_prompt\": %d,\n    \"n_gen\": %d,\n    \"n_depth\": %d,\n",
                r[i].n_threads, r[i].n_prompt, r[i].n_gen, r[i].n_depth);
        fprintf(f, "    \"test\": \"%s\",\n    \"test_time\": \"%s\",\n", r[i].test, date);
        fprintf(f, "    \"avg_ts\": %.6f,\n    \"stddev_ts\": %.6f,\n    \"samples_ts\": [", r[i].avg_ts,
                r[i].stddev_ts);
        for (int k = 0; k < r[i].n_reps; k++) {
            fprintf(f, "%s%.6f", k ? ", " : "", r[i].samples_ts[k]);
        }
        fprintf(f, "],\n    \"read_bw_gbs\": %.6f,\n    \"read_bytes\": %llu,\n    \"bw_fraction\": %.4f,\n",
                c->read_bw_gbs, (unsigned long long)c->read_bytes, r[i].bw_fraction);
        if (c->device) {
            fprintf(f, "    \"device_mem_used\": %llu,\n    \"device_mem_total\": %llu,\n", (unsigned long long)c->device_mem_used,
                    (unsigned long long)c->device_mem_total);
            fprintf(f, "    \"device_weights\": %llu,\n    \"device_arena\": %llu,\n", (unsigned long long)c->device_weights,
                    (unsigned long long)c->device_arena);
        }
        fprintf(f, "    \"peak_rss\": %llu,\n    \"kv_bytes\": %llu\n  }%s\n", (unsigned long long)c->peak_rss,
                (unsigned long long)c->kv_bytes, i + 1 < n ? "," : "");
    }
    fprintf(f, "]\n");
}
