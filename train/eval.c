#include "train/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "kernels/cpu/backward.h"
#include "ops/step_state.h"
#include "train/mot_pass.h"

/* The NLL in nats of the primary's completion tokens under a pass. */
static mot_status pass_nll(const mot_trainer *t, const mot_train_example *e, const int *active, int k, int alone,
                           double *nll) {
    mot_pass *p = NULL;
    mot_pass_opts o = {.k = k, .active = active, .alone = alone, .slot = t->slot};
    MOT_TRY(mot_pass_forward(t->m, &t->w, e, &o, &p));
    *nll = mot_cpu_cross_entropy(NULL, mot_pass_logits(p), mot_pass_targets(p), mot_pass_rows(p), mot_pass_vocab(p),
                                 1.0f);
    mot_pass_free(p);
    return MOT_OK;
}

mot_status mot_eval_alone_nll(const mot_trainer *t, const mot_train_example *e, int m, double *nll) {
    return pass_nll(t, e, &m, 1, 1, nll);
}

mot_status mot_train_route_targets(const mot_trainer *t, mot_train_data *d) {
    const int M = t->m->n_experts;
    const double t0 = mot_now();
    const int tty = isatty(STDERR_FILENO); /* an updating line on a terminal, one line in a log */
    double last = t0;
    for (int i = 0; i < d->n; i++) {
        mot_train_example *e = &d->ex[i];
        double best = INFINITY;
        e->route_target = -1;
        for (int x = 0; x < M; x++) {
            double nll;
            MOT_TRY(mot_eval_alone_nll(t, e, x, &nll));
            if (!isfinite(nll)) {
                return mot_fail(MOT_ERR_INTERNAL, "%s:%d: expert %s alone gives the completion an NLL of %g", d->path,
                                e->line, t->m->pipe->experts[x].name, nll);
            }
            if (nll < best) best = nll, e->route_target = x; /* ties: the lower index */
        }
        const double now = mot_now();
        if (tty && now - last >= 1.0) {
            fprintf(stderr, "\r\033[Krouting targets: %d/%d examples scored by each expert alone (%.0f s)", i + 1,
                    d->n, now - t0);
            last = now;
        }
    }
    fprintf(stderr, "%srouting targets: %d/%d examples scored by each expert alone (%.0f s)\n",
            tty && last > t0 ? "\r\033[K" : "", d->n, d->n, mot_now() - t0);
    return MOT_OK;
}

void mot_eval_result_free(mot_eval_result *r) {
    for (int i = 0; r->ex && i < r->n; i++) free(r->ex[i].alone);
    free(r->ex);
    *r = (mot_eval_result){0};
}

mot_status mot_eval_run(const mot_trainer *t, const mot_train_data *d, mot_eval_result *out) {
    const int M = t->m->n_experts, K = t->m->pipe->router.top_k;
    *out = (mot_eval_result){.n = d->n, .k = K, .M = M};
    out->ex = calloc((size_t)d->n, sizeof *out->ex);
    float *s = malloc((size_t)M * sizeof *s);
    mot_status st = out->ex && s ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "eval: out of memory");
    for (int i = 0; st == MOT_OK && i < d->n; i++) {
        const mot_train_example *e = &d->ex[i];
        mot_eval_example *r = &out->ex[i];
        r->line = e->line, r->bytes = e->completion_bytes;
        r->alone = malloc((size_t)M * sizeof *r->alone);
        if (!r->alone) {
            st = mot_fail(MOT_ERR_NOMEM, "eval: out of memory");
            break;
        }
        st = mot_train_router_scores(t, e, s);
        if (st != MOT_OK) break;
        mot_train_top_k(s, M, K, r->active);
        r->top1_expert = r->active[0];
        st = pass_nll(t, e, r->active, K, 0, &r->mot);
        for (int x = 0; st == MOT_OK && x < M; x++) {
            st = pass_nll(t, e, &x, 1, 1, &r->alone[x]);
        }
        r->top1 = r->alone[r->top1_expert];
        if (d->n >= 20 && (i + 1) % 10 == 0) fprintf(stderr, "\reval: %d/%d examples", i + 1, d->n);
    }
    if (d->n >= 20) fprintf(stderr, "\n");
    free(s);
    if (st != MOT_OK) mot_eval_result_free(out);
    return st;
}
