/* mot: the command-line tool. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "mot.h"

static const char usage[] =
    "usage: mot COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  run   -m MODEL_DIR -p TEXT [-f FILE] [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S]\n"
    "        [-t THREADS] [-c CTX] [-b BATCH] [--dump FILE]\n"
    "        generate text with one Hugging Face Llama/Mistral checkpoint (streamed to stdout)\n"
    "  bench -m MODEL_DIR [-p 128] [-n 64] [-r 3] [-t THREADS] [-o md|json]\n"
    "        prompt processing (ppN) and generation (tgN) speed, like llama-bench\n"
    "\n"
    "run defaults: -n -1 (until EOS or the context is full), --temp 0.8, --top-k 40, --top-p 0.95,\n"
    "a random seed (printed), -t = all cores, -c = max_position_embeddings, -b 512.\n"
    "--temp 0 is greedy decoding (arg-max, ties to the lower token id).\n"
    "See docs/cli.md for everything each command prints.\n";

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("mot %s\n", mot_version());
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        }
    }
    if (!strcmp(argv[1], "run")) {
        return mot_cmd_run(argc - 2, argv + 2);
    }
    if (!strcmp(argv[1], "bench")) {
        return mot_cmd_bench(argc - 2, argv + 2);
    }
    fprintf(stderr, "error: unknown command '%s' (expected run or bench; see mot --help)\n", argv[1]);
    return 2;
}
