/* The subcommands of the mot tool; each takes the arguments after its name. */
#ifndef MOT_CLI_COMMANDS_H
#define MOT_CLI_COMMANDS_H

int mot_cmd_run(int argc, char **argv);
int mot_cmd_bench(int argc, char **argv);
int mot_cmd_graph(int argc, char **argv); /* mot graph PIPELINE.yaml [--format yaml|dot] */
int mot_cmd_route(int argc, char **argv);
int mot_cmd_init(int argc, char **argv);
int mot_cmd_train(int argc, char **argv); /* mot train PIPELINE.yaml --data TRAIN.jsonl -o W (docs/training.md) */
int mot_cmd_eval(int argc, char **argv);  /* mot eval PIPELINE.yaml --data EVAL.jsonl [--weights W] */
int mot_cmd_tune(int argc, char **argv); /* mot tune PIPELINE.yaml -o SCHEDULE.yaml [--budget S] */

#endif
