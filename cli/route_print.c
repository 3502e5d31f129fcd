#include "cli/route_print.h"

void mot_route_print(FILE *f, const mot_model *m, const mot_route *r, const char *prefix) {
    const mot_pipeline *p = m->pipe;
    if (r->scores) {
        fprintf(f, "%sscores:", prefix);
        for (int e = 0; e < m->n_experts; e++) {
            fprintf(f, " %s=%.6f", p->experts[e].name, r->scores[e]);
        }
        fputc('\n', f);
    } else {
        fprintf(f, "%sscores: (set forced with --experts)\n", prefix);
    }
    fprintf(f, "%sactive:", prefix);
    for (int i = 0; i < r->k; i++) {
        fprintf(f, "%s%s", i ? "," : " ", p->experts[r->active[i]].name);
    }
    fprintf(f, "\n%sprimary: %s\n", prefix, p->experts[r->active[0]].name);
}
