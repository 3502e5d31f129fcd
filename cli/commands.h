/* The subcommands of the mot tool; each takes the arguments after its name. */
#ifndef MOT_CLI_COMMANDS_H
#define MOT_CLI_COMMANDS_H

#include <stdio.h>

#include "runtime/router.h"

int mot_cmd_run(int argc, char **argv);
int mot_cmd_bench(int argc, char **argv);
int mot_cmd_graph(int argc, char **argv); /* mot graph PIPELINE.yaml [--format yaml|dot] */
int mot_cmd_route(int argc, char **argv);
int mot_cmd_init(int argc, char **argv);
int mot_cmd_train(int argc, char **argv); /* mot train PIPELINE.yaml --data TRAIN.jsonl -o W (docs/training.md) */
int mot_cmd_eval(int argc, char **argv);  /* mot eval PIPELINE.yaml --data EVAL.jsonl [--weights W] */
int mot_cmd_perplexity(int argc, char **argv); /* mot perplexity -m MODEL -f TEXT [-c 512] (llama-perplexity's) */
int mot_cmd_serve(int argc, char **argv); /* mot serve -m MODEL [--port 8080]: OpenAI-compatible HTTP */
int mot_cmd_tune(int argc, char **argv); /* mot tune PIPELINE.yaml -o SCHEDULE.yaml [--budget S] */

/* Prints a route as mot route does (cli/cmd_route.c): scores per expert (pipeline order), the
 * active set and the primary, each line starting with prefix. */
void mot_route_print(FILE *f, const mot_model *m, const mot_route *r, const char *prefix);

#endif
