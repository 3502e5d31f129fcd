/* libFuzzer target: a schedule file (scheduler/schedule.c over graph/yaml_tree.c). The input
 * is the YAML; a schedule that loads must survive a round trip: mot_schedule_write's text
 * loads again to the same settings (what `mot tune` relies on when it writes one).
 * Build and run: scripts/fuzz.sh schedule SECONDS. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/schedule.h"
#include "tests/fuzz/fuzz_files.h"

/* mot_schedule_apply_cpu calls the CPU kernels' setters; the target never applies a schedule,
 * so these stand in for kernels/cpu rather than building every kernel with the sanitizers. */
void mot_cpu_set_gemm_from(int f32_rows, int lowp_rows) { (void)f32_rows, (void)lowp_rows; }
void mot_cpu_set_gemm_blocking(int kc, int mc) { (void)kc, (void)mc; }
void mot_cpu_set_precision_fast(int fast) { (void)fast; }
void mot_cpu_set_quant_gemv(int mode) { (void)mode; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_dir("schedule");
    if (fuzz_write("schedule.yaml", data, size) != 0) {
        return 0;
    }
    mot_schedule s;
    mot_schedule_defaults(&s);
    if (mot_schedule_load(fuzz_path("schedule.yaml"), &s) != 0) {
        return 0;
    }
    char line[256];
    mot_schedule_describe(&s, line, sizeof line);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        abort();
    }
    mot_schedule_write(&s, "fuzz\nround trip", f);
    fclose(f);
    mot_schedule again;
    mot_schedule_defaults(&again);
    if (fuzz_write("written.yaml", text, len) != 0 ||
        mot_schedule_load(fuzz_path("written.yaml"), &again) != 0) {
        fprintf(stderr, "the written schedule does not load again: %s\n---\n%s", mot_last_error(), text);
        abort();
    }
    if (memcmp(&s, &again, sizeof s) != 0) {
        fprintf(stderr, "the written schedule loads to other settings\n---\n%s", text);
        abort();
    }
    free(text);
    return 0;
}
