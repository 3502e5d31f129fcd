/* mot train PIPELINE.yaml --data TRAIN.jsonl -o WEIGHTS.safetensors [...]: trains the router and
 * the interaction layers (SPEC 5, train/train_run.h; docs/training.md). */
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/error.h"
#include "train/train_run.h"

static const char train_usage[] =
    "train: usage: mot train PIPELINE.yaml --data TRAIN.jsonl -o WEIGHTS.safetensors [--eval EVAL.jsonl] "
    "[--steps N] [--batch B] [--lr LR] [--warmup N] [--seed S] [--init W] [--resume CKPT] [--checkpoint-every N] "
    "[--eval-every N] [-t THREADS] [--backend cpu|cuda] [--profile TRACE.json]";

int mot_cmd_train(int argc, char **argv) {
    const char *pipeline = NULL;
    mot_train_run_opts o;
    mot_train_run_defaults(&o);
    int threads = 0, no_dropout = 0;
    unsigned long long seed = 0;
    mot_args a = {argc, argv, 0};
    mot_status st = MOT_OK;
    for (a.i = 0; a.i < argc && st == MOT_OK; a.i++) {
        const char *f = argv[a.i];
        if (!strcmp(f, "--data")) st = mot_arg_str(&a, &o.data_path);
        else if (!strcmp(f, "--eval")) st = mot_arg_str(&a, &o.eval_path);
        else if (!strcmp(f, "-o") || !strcmp(f, "--output")) st = mot_arg_str(&a, &o.out_path);
        else if (!strcmp(f, "--init")) st = mot_arg_str(&a, &o.init_path);
        else if (!strcmp(f, "--resume")) st = mot_arg_str(&a, &o.resume_path);
        else if (!strcmp(f, "--checkpoint")) st = mot_arg_str(&a, &o.checkpoint_path);
        else if (!strcmp(f, "--noise")) st = mot_arg_str(&a, &o.noise_path);
        else if (!strcmp(f, "--grad-dump")) st = mot_arg_str(&a, &o.grad_dump_path);
        else if (!strcmp(f, "--profile")) st = mot_arg_str(&a, &o.profile_path);
        else if (!strcmp(f, "--steps")) st = mot_arg_int(&a, 1, INT_MAX / 4096, &o.steps), o.flags_given |= MOT_TRAIN_KEY_STEPS;
        else if (!strcmp(f, "--batch")) st = mot_arg_int(&a, 1, 4096, &o.batch), o.flags_given |= MOT_TRAIN_KEY_BATCH;
        else if (!strcmp(f, "--warmup")) st = mot_arg_int(&a, 0, INT_MAX, &o.opt.warmup), o.flags_given |= MOT_TRAIN_KEY_WARMUP;
        else if (!strcmp(f, "--checkpoint-every")) st = mot_arg_int(&a, 0, INT_MAX, &o.checkpoint_every);
        else if (!strcmp(f, "--stop-after")) st = mot_arg_int(&a, 1, INT_MAX, &o.stop_after);
        else if (!strcmp(f, "--eval-every")) st = mot_arg_int(&a, 0, INT_MAX, &o.eval_every);
        else if (!strcmp(f, "--max-tokens")) st = mot_arg_int(&a, 1, INT_MAX, &o.max_tokens);
        else if (!strcmp(f, "--lr")) st = mot_arg_float(&a, 0, 10, &o.opt.lr), o.flags_given |= MOT_TRAIN_KEY_LR;
        else if (!strcmp(f, "--weight-decay")) st = mot_arg_float(&a, 0, 10, &o.opt.weight_decay), o.flags_given |= MOT_TRAIN_KEY_WEIGHT_DECAY;
        else if (!strcmp(f, "--clip")) st = mot_arg_float(&a, 0, 1e30, &o.opt.clip), o.flags_given |= MOT_TRAIN_KEY_CLIP;
        else if (!strcmp(f, "--tau")) st = mot_arg_float(&a, 1e-6, 1e6, &o.h.tau), o.flags_given |= MOT_TRAIN_KEY_TAU;
        else if (!strcmp(f, "--l-ent")) st = mot_arg_float(&a, 0, 1e6, &o.h.l_ent), o.flags_given |= MOT_TRAIN_KEY_L_ENT;
        else if (!strcmp(f, "--l-bal")) st = mot_arg_float(&a, 0, 1e6, &o.h.l_bal), o.flags_given |= MOT_TRAIN_KEY_L_BAL;
        else if (!strcmp(f, "--l-con")) st = mot_arg_float(&a, 0, 1e6, &o.h.l_con), o.flags_given |= MOT_TRAIN_KEY_L_CON;
        else if (!strcmp(f, "--l-route")) st = mot_arg_float(&a, 0, 1e6, &o.h.l_route), o.flags_given |= MOT_TRAIN_KEY_L_ROUTE;
        else if (!strcmp(f, "--dropout")) st = mot_arg_float(&a, 0, 0.99, &o.h.dropout), o.flags_given |= MOT_TRAIN_KEY_DROPOUT;
        else if (!strcmp(f, "--seed")) st = mot_arg_u64(&a, &seed), o.flags_given |= MOT_TRAIN_KEY_SEED;
        else if (!strcmp(f, "--no-shuffle")) o.shuffle = 0;
        else if (!strcmp(f, "--no-dropout")) no_dropout = 1;
        else if (!strcmp(f, "--force")) o.force = 1;
        else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) st = mot_arg_threads(&a, &threads);
        else if (!strcmp(f, "--backend")) st = mot_arg_train_backend(&a, &o.backend);
        else if (f[0] == '-') st = mot_fail(MOT_ERR_ARG, "train: unknown option '%s'", f);
        else if (pipeline) st = mot_fail(MOT_ERR_ARG, "train: unexpected argument '%s'", f);
        else pipeline = f;
    }
    if (st == MOT_OK && !pipeline) st = mot_fail(MOT_ERR_ARG, "%s", train_usage);
    if (st != MOT_OK) return mot_cli_fail(st);
    o.seed = seed;
    if (no_dropout) o.h.dropout = 0, o.flags_given |= MOT_TRAIN_KEY_DROPOUT;
    if (threads > 0) omp_set_num_threads(threads);
    st = mot_train_run(pipeline, &o);
    return st == MOT_OK ? 0 : mot_cli_fail(st);
}
