#include "train/train_run.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/rng.h"
#include "common/safe_write.h"
#include "kernels/cpu/backward.h"
#include "model/safetensors.h"
#include "ops/step_state.h"
#include "profiling/trace.h"
#include "train/checkpoint.h"
#include "train/eval.h"
#include "train/mot_pass.h"

void mot_train_run_defaults(mot_train_run_opts *o) {
    *o = (mot_train_run_opts){.steps = 100, .batch = 8, .shuffle = 1, .seed = 0, .backend = MOT_BACKEND_CPU};
    mot_train_hparams_default(&o->h);
    mot_adamw_defaults(&o->opt);
}

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

/* A stream keyed by (seed, a, b, c): every draw is a function of where it is used, not of the
 * draws before it, so a resumed run draws what an uninterrupted one would. */
static uint64_t stream(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t x = seed;
    x ^= mot_splitmix64(&x) + a;
    x ^= mot_splitmix64(&x) + b;
    x ^= mot_splitmix64(&x) + c;
    return mot_splitmix64(&x);
}

/* Standard Gumbel noise -log(-log(u)), u in (0, 1). */
static void draw_gumbel(float *g, int n, uint64_t x) {
    for (int i = 0; i < n; i++) {
        const double u = ((double)(mot_splitmix64(&x) >> 11) + 0.5) * 0x1.0p-53;
        g[i] = (float)-log(-log(u));
    }
}

/* The example at global position pos (step * batch + i): epochs run through the data in a
 * seeded permutation each (file order without shuffling). */
static int example_at(int64_t pos, int N, int shuffle, uint64_t seed, int *perm, int64_t *perm_epoch) {
    const int64_t epoch = pos / N;
    if (!shuffle) return (int)(pos % N);
    if (*perm_epoch != epoch) {
        uint64_t x = stream(seed, 0x5eed, (uint64_t)epoch, 0);
        for (int i = 0; i < N; i++) perm[i] = i;
        for (int i = N - 1; i > 0; i--) { /* Fisher-Yates */
            const int j = (int)(mot_splitmix64(&x) % (uint64_t)(i + 1));
            const int t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        *perm_epoch = epoch;
    }
    return perm[pos % N];
}

/* Given noise (tests): gumbel0 and gumbel1 F32 [S, B, M]. */
typedef struct {
    mot_st_set *set;
    const float *g[2];
    int64_t steps;
} given_noise;

static mot_status noise_open(const char *path, int B, int M, given_noise *n) {
    *n = (given_noise){0};
    MOT_TRY(mot_st_open_file(path, &n->set));
    for (int c = 0; c < 2; c++) {
        const char *name = c ? "gumbel1" : "gumbel0";
        const mot_tensor *t = mot_st_find(n->set, name);
        if (!t || t->dtype != MOT_DTYPE_F32 || t->ndim != 3 || t->shape[1] != B || t->shape[2] != M) {
            mot_st_close(n->set);
            return mot_fail(MOT_ERR_SHAPE, "%s: tensor '%s': expected F32 [steps, %d, %d] (batch, experts)", path, name,
                            B, M);
        }
        n->g[c] = t->data;
        n->steps = c ? (t->shape[0] < n->steps ? t->shape[0] : n->steps) : t->shape[0];
    }
    return MOT_OK;
}

mot_status mot_train_eval_loss(const mot_trainer *t, const mot_train_data *d, double *loss) {
    const int M = t->m->n_experts, K = t->m->pipe->router.top_k;
    float *s = malloc((size_t)M * sizeof *s);
    if (!s) return mot_fail(MOT_ERR_NOMEM, "eval: out of memory");
    double nll = 0;
    long tokens = 0;
    mot_status st = MOT_OK;
    for (int i = 0; st == MOT_OK && i < d->n; i++) {
        int active[MOT_MAX_LANES];
        st = mot_train_router_scores(t, &d->ex[i], s);
        if (st != MOT_OK) break;
        mot_train_top_k(s, M, K, active);
        mot_pass *p = NULL;
        mot_pass_opts o = {.k = K, .active = active, .slot = t->slot};
        st = mot_pass_forward(t->m, &t->w, &d->ex[i], &o, &p);
        if (st == MOT_OK) {
            nll += mot_cpu_cross_entropy(NULL, mot_pass_logits(p), mot_pass_targets(p), mot_pass_rows(p),
                                         mot_pass_vocab(p), 1.0f);
            tokens += mot_pass_rows(p);
        }
        mot_pass_free(p);
    }
    free(s);
    *loss = tokens ? nll / (double)tokens : NAN;
    return st;
}

/* --grad-dump: the loss terms and each weighted term's gradient of batch 0, for comparison with
 * the float64 reference (tests/train/test_train_grads.py). */
static mot_status grad_dump(const mot_trainer *t, const mot_train_data *d, const mot_train_run_opts *o,
                            const float *g0, const float *g1) {
    const int B = o->batch, K = t->m->pipe->router.top_k, n = t->lay->n;
    enum { NT = 6 };
    const char *terms[NT] = {"total", "lm", "ent", "bal", "con", "route"};
    const mot_train_example **batch = malloc((size_t)B * sizeof *batch);
    float *grads = malloc(NT * t->lay->total * sizeof *grads + 1);
    mot_st_entry *e = calloc((size_t)(NT * n + NT + 3), sizeof *e);
    char **names = calloc((size_t)(NT * n), sizeof *names);
    int *act = malloc(2 * (size_t)B * K * sizeof *act), *target = malloc((size_t)B * sizeof *target);
    float losses[NT];
    mot_status st = batch && grads && e && names && act && target ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "out of memory");
    for (int b = 0; st == MOT_OK && b < B; b++) batch[b] = &d->ex[b % d->n], target[b] = batch[b]->route_target;
    int k = 0;
    for (int term = 0; st == MOT_OK && term < NT; term++) {
        mot_train_hparams h = o->h;
        if (term > 0) { /* one weighted term alone */
            h.l_lm = term == 1 ? o->h.l_lm : 0, h.l_ent = term == 2 ? o->h.l_ent : 0;
            h.l_bal = term == 3 ? o->h.l_bal : 0, h.l_con = term == 4 ? o->h.l_con : 0;
            h.l_route = term == 5 ? o->h.l_route : 0;
        }
        memset(t->grad, 0, t->lay->total * sizeof *t->grad);
        mot_train_losses L;
        st = mot_train_batch(t, batch, B, g0, g1, &h, o->seed, &L, act, act + B * K);
        if (st != MOT_OK) break;
        if (term == 0) {
            losses[0] = (float)L.total, losses[1] = (float)L.lm, losses[2] = (float)L.ent;
            losses[3] = (float)L.bal, losses[4] = (float)L.con, losses[5] = (float)L.route;
        }
        memcpy(grads + term * t->lay->total, t->grad, t->lay->total * sizeof *grads);
        for (int i = 0; i < n; i++) {
            const mot_train_tensor *tt = &t->lay->t[i];
            size_t len = strlen(tt->name) + 16;
            names[term * n + i] = malloc(len);
            if (!names[term * n + i]) { st = mot_fail(MOT_ERR_NOMEM, "out of memory"); break; }
            snprintf(names[term * n + i], len, "grad.%s.%s", terms[term], tt->name);
            e[k++] = (mot_st_entry){.name = names[term * n + i], .dtype = MOT_DTYPE_F32, .ndim = tt->ndim,
                                    .shape = {tt->shape[0], tt->shape[1]},
                                    .data = grads + term * t->lay->total + tt->offset};
        }
    }
    static const char *const loss_names[NT] = {"loss.total", "loss.lm",  "loss.ent",
                                               "loss.bal",   "loss.con", "loss.route"};
    for (int i = 0; st == MOT_OK && i < NT; i++) {
        e[k++] = (mot_st_entry){.name = loss_names[i], .dtype = MOT_DTYPE_F32, .ndim = 1, .shape = {1}, .data = &losses[i]};
    }
    if (st == MOT_OK) {
        e[k++] = (mot_st_entry){.name = "route.active0", .dtype = MOT_DTYPE_I32, .ndim = 2, .shape = {B, K}, .data = act};
        e[k++] = (mot_st_entry){.name = "route.active1", .dtype = MOT_DTYPE_I32, .ndim = 2, .shape = {B, K},
                                .data = act + B * K};
        e[k++] = (mot_st_entry){.name = "route.target", .dtype = MOT_DTYPE_I32, .ndim = 1, .shape = {B}, .data = target};
        st = mot_st_write(o->grad_dump_path, e, k, o->force);
    }
    for (int i = 0; names && i < NT * n; i++) free(names[i]);
    free(names), free(e), free(grads), free(batch), free(act), free(target);
    return st;
}

static void fmt_eta(double s, char *buf, size_t cap) {
    long x = (long)(s + 0.5);
    if (x >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", x / 3600, x / 60 % 60, x % 60);
    else snprintf(buf, cap, "%ld:%02ld", x / 60, x % 60);
}

static mot_status check_resume(const char *path, const mot_train_state *s, const mot_train_run_opts *o, int N) {
    if (s->batch != o->batch) {
        return mot_fail(MOT_ERR_ARG, "--resume %s: the checkpoint was trained with --batch %lld, not %d", path,
                        (long long)s->batch, o->batch);
    }
    if (s->examples != N) {
        return mot_fail(MOT_ERR_ARG, "--resume %s: the checkpoint was trained on %lld examples, %s has %d (resume with "
                        "the same data)", path, (long long)s->examples, o->data_path, N);
    }
    if (s->step > o->steps) {
        return mot_fail(MOT_ERR_ARG, "--resume %s: the checkpoint is at step %lld, past --steps %d", path,
                        (long long)s->step, o->steps);
    }
    return MOT_OK;
}

typedef struct {
    mot_model *m;
    mot_train_layout lay;
    mot_trainer t;
    mot_train_data data, eval;
    float *mom1, *mom2, *noise;
    int *perm;
    const mot_train_example **batch;
    given_noise given;
    mot_trace *trace; /* --profile */
    int steps_run;    /* by this run (a resumed one counts from its start) */
    long tokens_run;
    double seconds_run;
} run_state;

static void run_free(run_state *r) {
    mot_trainer_free(&r->t);
    mot_train_data_free(&r->data);
    mot_train_data_free(&r->eval);
    mot_train_layout_free(&r->lay);
    mot_model_free(r->m);
    if (r->given.set) mot_st_close(r->given.set);
    if (r->trace) mot_trace_free(r->trace);
    free(r->trace);
    free(r->mom1), free(r->mom2), free(r->noise), free(r->perm), free(r->batch);
}

static mot_status train_loop(run_state *r, const mot_train_run_opts *o, const char *ckpt, int *stopped) {
    const int B = o->batch, M = r->m->n_experts, N = r->data.n;
    mot_train_state s = {.step = 0, .seed = o->seed, .batch = B, .examples = N};
    if (o->resume_path) {
        MOT_TRY(mot_checkpoint_read(o->resume_path, &r->lay, r->t.values, r->mom1, r->mom2, &s));
        mot_trainer_values_changed(&r->t);
        MOT_TRY(check_resume(o->resume_path, &s, o, N));
        if (s.seed != o->seed) {
            fprintf(stderr, "resume: using the checkpoint's seed %llu\n", (unsigned long long)s.seed);
        }
        fprintf(stderr, "resume: %s at step %lld\n", o->resume_path, (long long)s.step);
    }
    mot_adamw_opts opt = o->opt;
    opt.total_steps = o->steps;
    mot_trace *tr = r->t.trace;
    if (r->eval.n && o->eval_every > 0 && s.step == 0) {
        double ev;
        const double te = tr ? mot_trace_now(tr) : 0.0;
        MOT_TRY(mot_train_eval_loss(&r->t, &r->eval, &ev));
        mot_trace_host_span(tr, "eval", te, 0);
        fprintf(stderr, "eval step 0: loss %.4f (%d examples)\n", ev, r->eval.n);
    }
    int64_t perm_epoch = -1;
    const double t0 = mot_now();
    long tokens = 0;
    const int64_t first = s.step;
    interrupted = 0;
    struct sigaction sa = {.sa_handler = on_sigint}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    mot_status st = MOT_OK;
    for (; st == MOT_OK && s.step < o->steps; s.step++) {
        for (int b = 0; b < B; b++) {
            r->batch[b] = &r->data.ex[example_at(s.step * B + b, N, o->shuffle, s.seed, r->perm, &perm_epoch)];
        }
        const float *g[2];
        for (int c = 0; c < 2; c++) {
            if (r->given.set) {
                if (s.step >= r->given.steps) {
                    st = mot_fail(MOT_ERR_ARG, "--noise %s: %lld steps of noise, step %lld needs more", o->noise_path,
                                  (long long)r->given.steps, (long long)s.step);
                    break;
                }
                g[c] = r->given.g[c] + (size_t)s.step * B * M;
            } else {
                float *x = r->noise + (size_t)c * B * M;
                for (int b = 0; b < B; b++) draw_gumbel(x + (size_t)b * M, M, stream(s.seed, (uint64_t)s.step, b, c + 1));
                g[c] = x;
            }
        }
        if (st != MOT_OK) break;
        memset(r->t.grad, 0, r->lay.total * sizeof *r->t.grad);
        mot_train_losses L;
        st = mot_train_batch(&r->t, r->batch, B, g[0], g[1], &o->h, stream(s.seed, (uint64_t)s.step, 0, 7), &L, NULL,
                             NULL);
        if (st != MOT_OK) break;
        const double to = tr ? mot_trace_now(tr) : 0.0;
        const double norm = mot_clip_grad_norm(r->t.grad, r->lay.total, opt.clip);
        if (!isfinite(norm) || !isfinite(L.total)) {
            st = mot_fail(MOT_ERR_INTERNAL, "training: step %lld: loss %g, gradient norm %g: not finite (lower --lr)",
                          (long long)s.step + 1, L.total, norm);
            break;
        }
        mot_adamw_step(&opt, &r->lay, s.step, r->t.values, r->t.grad, r->mom1, r->mom2);
        mot_trainer_values_changed(&r->t);
        mot_trace_host_span(tr, "optimizer", to, 0);
        tokens += L.tokens_all;
        r->steps_run++, r->tokens_run = tokens, r->seconds_run = mot_now() - t0;
        const double el = mot_now() - t0, per_step = el / (double)(s.step + 1 - first);
        char eta[32];
        fmt_eta(per_step * (double)(o->steps - s.step - 1), eta, sizeof eta);
        char route[32] = "";
        if (o->h.l_route != 0) snprintf(route, sizeof route, " route %.4f", L.route);
        fprintf(stderr,
                "step %lld/%d | loss %.4f | lm %.4f ent %.4f bal %.4f con %.4f%s | lr %.2e | grad norm %.3f | %.0f tok/s "
                "| ETA %s\n",
                (long long)s.step + 1, o->steps, L.total, L.lm, L.ent, L.bal, L.con, route, mot_adamw_lr(&opt, s.step),
                norm, tokens / el, eta);
        const int64_t done = s.step + 1;
        if (r->eval.n && o->eval_every > 0 && (done % o->eval_every == 0 || done == o->steps)) {
            double ev;
            const double te = tr ? mot_trace_now(tr) : 0.0;
            st = mot_train_eval_loss(&r->t, &r->eval, &ev);
            mot_trace_host_span(tr, "eval", te, 0);
            if (st == MOT_OK) fprintf(stderr, "eval step %lld: loss %.4f (%d examples)\n", (long long)done, ev, r->eval.n);
        }
        *stopped = o->stop_after > 0 && done - first >= o->stop_after && done < o->steps;
        const int due = (o->checkpoint_every > 0 && done % o->checkpoint_every == 0) || *stopped;
        if (st == MOT_OK && (due || interrupted)) {
            mot_train_state at = s;
            at.step = done;
            st = mot_checkpoint_write(ckpt, &r->lay, r->t.values, r->mom1, r->mom2, &at, o->force);
            if (st == MOT_OK) fprintf(stderr, "checkpoint: %s (step %lld)\n", ckpt, (long long)done);
        }
        if (st == MOT_OK && interrupted) {
            st = mot_fail(MOT_ERR_ARG, "interrupted at step %lld of %d: resume with --resume %s", (long long)done,
                          o->steps, ckpt);
        }
        if (st == MOT_OK && *stopped) {
            fprintf(stderr, "train: stopped at step %lld of %d (--stop-after): resume with --resume %s\n",
                    (long long)done, o->steps, ckpt);
            break;
        }
    }
    sigaction(SIGINT, &old, NULL);
    return st;
}

/* --profile: a trace whose lane tracks are the pass's lanes (the routed experts change from
 * pass to pass: the slices name theirs) and the LM head's. */
static mot_status profile_begin(run_state *r) {
    r->trace = malloc(sizeof *r->trace);
    if (!r->trace) return mot_fail(MOT_ERR_NOMEM, "train: out of memory");
    mot_trace *t = r->trace;
    mot_trace_init(t);
    const int K = r->m->pipe->router.top_k;
    t->n_tracks = K + 1 < 16 ? K + 1 : 16;
    for (int k = 0; k < t->n_tracks; k++) {
        if (k == K) snprintf(t->track_names[k], sizeof t->track_names[k], "lane %d: LM head", k);
        else snprintf(t->track_names[k], sizeof t->track_names[k], "lane %d: routed expert %d%s", k, k,
                      k == 0 ? " (primary)" : "");
    }
    t->n_experts = r->m->n_experts < 64 ? r->m->n_experts : 64;
    for (int e = 0; e < t->n_experts; e++) t->expert_names[e] = r->m->pipe->experts[e].name;
    mot_trainer_set_trace(&r->t, t);
    return MOT_OK;
}

static mot_status profile_end(run_state *r, const mot_train_run_opts *o) {
    const mot_status st = mot_trace_write(r->trace, o->profile_path, o->force);
    if (st != MOT_OK) return mot_fail_prefix(st, "--profile");
    mot_trace_print_train_summary(r->trace, stderr, r->steps_run, r->tokens_run, r->seconds_run);
    fprintf(stderr, "train: trace written to %s (open it in https://ui.perfetto.dev or chrome://tracing)\n",
            o->profile_path);
    return MOT_OK;
}

/* The pipeline's `train:` values for the settings no flag gave. */
static void apply_pipeline_train(const mot_pipeline *p, mot_train_run_opts *o) {
    const unsigned use = p->train.given & ~o->flags_given;
    if (use & MOT_TRAIN_KEY_TAU) o->h.tau = (float)p->train.tau;
    if (use & MOT_TRAIN_KEY_L_ENT) o->h.l_ent = (float)p->train.l_ent;
    if (use & MOT_TRAIN_KEY_L_BAL) o->h.l_bal = (float)p->train.l_bal;
    if (use & MOT_TRAIN_KEY_L_CON) o->h.l_con = (float)p->train.l_con;
    if (use & MOT_TRAIN_KEY_L_ROUTE) o->h.l_route = (float)p->train.l_route;
    if (use & MOT_TRAIN_KEY_DROPOUT) o->h.dropout = (float)p->train.dropout;
    if (use & MOT_TRAIN_KEY_LR) o->opt.lr = (float)p->train.lr;
    if (use & MOT_TRAIN_KEY_WEIGHT_DECAY) o->opt.weight_decay = (float)p->train.weight_decay;
    if (use & MOT_TRAIN_KEY_CLIP) o->opt.clip = (float)p->train.clip;
    if (use & MOT_TRAIN_KEY_WARMUP) o->opt.warmup = p->train.warmup;
    if (use & MOT_TRAIN_KEY_STEPS) o->steps = p->train.steps;
    if (use & MOT_TRAIN_KEY_BATCH) o->batch = p->train.batch;
    if (use & MOT_TRAIN_KEY_SEED) o->seed = p->train.seed;
}

mot_status mot_train_run(const char *pipeline_path, const mot_train_run_opts *given) {
    mot_train_run_opts opts = *given, *o = &opts;
    if (!o->data_path) return mot_fail(MOT_ERR_ARG, "train: --data FILE is required");
    if (!o->out_path && !o->grad_dump_path) return mot_fail(MOT_ERR_ARG, "train: -o WEIGHTS.safetensors is required");
    char *ckpt = NULL;
    if (o->out_path) {
        MOT_TRY(mot_out_check(o->out_path, o->force));
        if (o->checkpoint_path) {
            ckpt = strdup(o->checkpoint_path);
        } else if ((ckpt = malloc(strlen(o->out_path) + 8))) {
            sprintf(ckpt, "%s.ckpt", o->out_path);
        }
        if (!ckpt) return mot_fail(MOT_ERR_NOMEM, "out of memory");
        mot_status c = mot_out_check(ckpt, o->force);
        if (c != MOT_OK) {
            free(ckpt);
            return c;
        }
    }
    if (o->profile_path) {
        mot_status c = mot_out_check(o->profile_path, o->force);
        if (c != MOT_OK) {
            free(ckpt);
            return mot_fail_prefix(c, "--profile");
        }
    }
    run_state r = {0};
    mot_status st = mot_model_load_with(pipeline_path, o->init_path, 1, &r.m);
    if (st == MOT_OK) apply_pipeline_train(r.m->pipe, o);
    if (st == MOT_OK) st = mot_train_layout_build(r.m, &r.lay);
    if (st == MOT_OK) st = mot_trainer_init(&r.t, r.m, &r.lay);
    if (st == MOT_OK) st = mot_trainer_set_backend(&r.t, o->backend, NULL);
    if (st == MOT_OK && o->profile_path) st = profile_begin(&r);
    if (st == MOT_OK) st = mot_train_data_load(r.m, o->data_path, o->max_tokens, &r.data);
    if (st == MOT_OK && o->eval_path) st = mot_train_data_load(r.m, o->eval_path, o->max_tokens, &r.eval);
    const int B = o->batch, M = r.m ? r.m->n_experts : 0;
    if (st == MOT_OK && o->h.l_route != 0) st = mot_train_route_targets(&r.t, &r.data);
    if (st == MOT_OK && o->noise_path) st = noise_open(o->noise_path, B, M, &r.given);
    if (st == MOT_OK) {
        r.mom1 = calloc(r.lay.total + 1, sizeof *r.mom1), r.mom2 = calloc(r.lay.total + 1, sizeof *r.mom2);
        r.noise = malloc(2 * (size_t)B * M * sizeof *r.noise);
        r.perm = malloc((size_t)r.data.n * sizeof *r.perm);
        r.batch = malloc((size_t)B * sizeof *r.batch);
        if (!r.mom1 || !r.mom2 || !r.noise || !r.perm || !r.batch) st = mot_fail(MOT_ERR_NOMEM, "train: out of memory");
    }
    if (st == MOT_OK && o->grad_dump_path) {
        float *g0 = r.noise, *g1 = r.noise + (size_t)B * M;
        if (r.given.set) g0 = (float *)r.given.g[0], g1 = (float *)r.given.g[1];
        else {
            for (int b = 0; b < B; b++) draw_gumbel(g0 + (size_t)b * M, M, stream(o->seed, 0, b, 1));
            for (int b = 0; b < B; b++) draw_gumbel(g1 + (size_t)b * M, M, stream(o->seed, 0, b, 2));
        }
        st = grad_dump(&r.t, &r.data, o, g0, g1);
    } else if (st == MOT_OK) {
        fprintf(stderr, "train: %d examples, %zu trained parameters in %d tensors, batch %d, %d steps\n", r.data.n,
                r.lay.total, r.lay.n, B, o->steps);
        int stopped = 0;
        st = train_loop(&r, o, ckpt, &stopped);
        if (st == MOT_OK && !stopped) st = mot_train_weights_write(o->out_path, &r.lay, r.t.values, o->force);
        if (st == MOT_OK && !stopped) fprintf(stderr, "train: wrote %s\n", o->out_path);
        if (st == MOT_OK && r.trace) st = profile_end(&r, o);
    }
    run_free(&r);
    free(ckpt);
    return st;
}
