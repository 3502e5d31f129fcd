/* mot: the command-line tool. Every command's exit goes through mot_stdout_finish, so that a
 * failed write to standard output is an error (cli/text_stream.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/text_stream.h"
#include "mot.h"

static const char usage[] =
    "usage: mot COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  run   PIPELINE.yaml -p TEXT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P] [--seed S]\n"
    "        [--repeat-penalty R] [--repeat-last-n N] [--presence-penalty X] [--frequency-penalty X]\n"
    "        [-t THREADS] [--experts a,b,c] [--drop NAME] [--dump FILE] [--force] [--system TEXT]\n"
    "        [--ignore-eos]\n"
    "        MoT: route the prompt, run the active experts with interaction layers, stream the primary\n"
    "  run   -m MODEL_DIR -p TEXT [-f FILE] [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]\n"
    "        [--repeat-penalty R] [--repeat-last-n N] [--presence-penalty X] [--frequency-penalty X]\n"
    "        [--seed S] [-t THREADS] [-c CTX] [-b BATCH] [--dump FILE] [--force] [--mmap|--no-mmap] [--ignore-eos]\n"
    "        [--chat] [--chat-template NAME] [--chat-template-file FILE] [--system TEXT] [-cnv]\n"
    "        generate text with one Hugging Face Llama/Mistral checkpoint or GGUF file (streamed\n"
    "        to stdout); -cnv: a conversation, one user turn a line from stdin, the cache kept\n"
    "  bench (PIPELINE.yaml [--experts a,b,c] | -m MODEL_DIR [-d DEPTH]) [-p 128] [-n 64] [-r 3]\n"
    "        [-t THREADS] [-o md|json] prompt processing (ppN) and generation (tgN) speed, like\n"
    "        llama-bench (-d: after DEPTH tokens in the cache);\n"
    "        for a pipeline also the experts alone and the interaction layers' share\n"
    "  graph PIPELINE.yaml [--format yaml|dot]\n"
    "        the expanded dataflow graph of a MoT pipeline file (see docs/pipeline.md)\n"
    "  route PIPELINE.yaml -p TEXT [--experts a,b] [--drop NAME] [--allow-nonfinite]\n"
    "        router scores, the active set and the primary\n"
    "  init  PIPELINE.yaml [--seed N] [--dtype f32|f16|bf16] [--biases] [--zero-reverse] [-o FILE]\n"
    "        [--force] write random MoT weights (router + interaction layers) for the pipeline's pool\n"
    "        (--zero-reverse: reverse projectors at 0, so the untrained MoT equals its primary)\n"
    "  train PIPELINE.yaml --data TRAIN.jsonl -o WEIGHTS.safetensors [--eval EVAL.jsonl] [--steps N]\n"
    "        [--batch B] [--lr LR] [--warmup N] [--seed S] [--init W] [--resume CKPT]\n"
    "        [--checkpoint-every N] [--eval-every N] [--tau T] [--l-ent X] [--l-bal X] [--l-con X]\n"
    "        [--l-route X] [--dropout P] [-t THREADS] [--backend cpu|cuda] [--profile TRACE.json]\n"
    "        train the router and interaction layers (docs/training.md)\n"
    "  eval  PIPELINE.yaml --data EVAL.jsonl [--weights W] [-o REPORT.json] [-t THREADS] [--backend cpu|cuda]\n"
    "        completion NLL of MoT, each expert alone and the router's top-1 expert alone\n"
    "  perplexity -m MODEL_DIR -f TEXT_FILE [-c 512] [-b 512] [--chunks N] [--dump FILE] [-t THREADS]\n"
    "        the model's perplexity over the text, as llama-perplexity computes it: chunks of -c\n"
    "        tokens, the second half of each scored; \"[1]PPL,[2]...\" then \"Final estimate: PPL = X +/- E\"\n"
    "  serve -m MODEL_DIR [--host 127.0.0.1] [--port 8080] [-c CTX] [-b BATCH] [-n N] [--api-key KEY]\n"
    "        [--alias NAME] [--timeout 600] [--chat-template NAME] [--temp T] [--top-k K] [--top-p P] ...\n"
    "        an OpenAI-compatible HTTP server (POST /v1/completions, /v1/chat/completions, streamed\n"
    "        or whole; GET /v1/models, /health), one request at a time, the KV cache's common\n"
    "        prefix reused between requests; request defaults: OpenAI's (docs/server.md)\n"
    "  serve PIPELINE.yaml [--host ...] [--port ...] [--api-key KEY] [-n N] [sampling] [-t THREADS]\n"
    "        the same for MoT: each request routed (or its \"experts\" forced), answered by the\n"
    "        primary with the interaction layers, the routed set named in the answer\n"
    "  tune  PIPELINE.yaml -o SCHEDULE.yaml [--budget SECONDS] [--experts a,b] [-p 32] [-n 16] [-r 3]\n"
    "        [--force]\n"
    "        search threads, lane mode, the GEMV/GEMM crossover and blocking and quant_gemv on this\n"
    "        machine; write the best schedule\n"
    "\n"
    "run, serve, bench and perplexity also take --backend auto|cpu|cuda, --lanes serial|concurrent, --no-graphs,\n"
    "--precision exact|fast (fast: CPU matmuls over quantized weights with int8 activations),\n"
    "--schedule FILE (docs/schedules.md), --profile TRACE.json (docs/profiling.md), --force and\n"
    "--allow-nonfinite (go on when the logits after the prompt hold NaN/inf: broken weights).\n"
    "-t is at most 4 threads per available core.\n"
    "pipeline runs take their sampler defaults from the file's sampler section (greedy by default).\n"
    "run -m defaults: -n -1 (until EOS or the context is full), --temp 0.8, --top-k 40, --top-p 0.95,\n"
    "--min-p 0.05 (llama.cpp's), a random seed (printed), -t = all cores, -c = max_position_embeddings,\n"
    "-b 512. Sampling applies temperature, top-k, top-p, then min-p (keep p >= min-p x the top p).\n"
    "Before them (greedy too), llama.cpp's penalties over the last --repeat-last-n tokens seen (64;\n"
    "-1 all, prompt included): a logit x of a token seen c times becomes x / R (x > 0) or x * R,\n"
    "minus c x frequency, minus presence. Defaults off (R 1, 0, 0).\n"
    "--temp 0 is greedy decoding (arg-max, ties to the lower token id). --ignore-eos: EOS does not\n"
    "stop generation (no expert of a pipeline stops at it either): -n tokens, or to the context's end.\n"
    "--chat wraps the prompt in the model's chat template (one user turn + the assistant prompt);\n"
    "--chat-template NAME forces one of: chatml, llama2, llama3, mistral, mistral-v1, mistral-v3,\n"
    "mistral-v3-tekken, gemma, phi3; --system TEXT adds a system turn. A pipeline turns chat on per\n"
    "expert (chat: true or chat_template: NAME; docs/pipeline.md).\n"
    "Output files (-o, --dump, --profile) are written to a temporary file beside the target, synced\n"
    "and renamed over it; a symlink, directory or device as the target is refused unless --force\n"
    "(which writes into it in place). A failed write, to a file or to stdout, is an error.\n"
    "See docs/cli.md for everything each command prints.\n";

/* mot serve ...: runs mot-serve from beside this executable (the build tree, or bin/ after
 * `cmake --install`): libmicrohttpd loads only there (CMakeLists.txt says why). */
static int exec_serve(int argc, char **argv) {
    char path[PATH_MAX + 16];
    const ssize_t n = readlink("/proc/self/exe", path, PATH_MAX - 1);
    char *slash = n > 0 ? (path[n] = '\0', strrchr(path, '/')) : NULL;
    if (!slash) {
        fprintf(stderr, "error: serve: cannot find this executable's folder (/proc/self/exe) to run mot-serve\n");
        return 1;
    }
    strcpy(slash + 1, "mot-serve");
    argv[1] = path; /* mot-serve's argv: its path, then the arguments after "serve" */
    fflush(stdout);
    execv(path, argv + 1);
    fprintf(stderr, "error: serve: cannot run %s: %s (scripts/build.sh builds it beside mot)\n", path,
            strerror(errno));
    return 1;
}

static int dispatch(int argc, char **argv) {
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
    if (!strcmp(argv[1], "graph")) {
        return mot_cmd_graph(argc - 2, argv + 2);
    }
    if (!strcmp(argv[1], "route")) {
        return mot_cmd_route(argc - 2, argv + 2);
    }
    if (!strcmp(argv[1], "train")) {
        return mot_cmd_train(argc - 2, argv + 2);
    }
    if (!strcmp(argv[1], "eval")) {
        return mot_cmd_eval(argc - 2, argv + 2);
    }
    if (!strcmp(argv[1], "init")) {
        return mot_cmd_init(argc - 2, argv + 2);
    }
    if (!strcmp(argv[1], "perplexity")) {
        return mot_cmd_perplexity(argc - 2, argv + 2);
    }
    if (!strcmp(argv[1], "serve")) {
        return exec_serve(argc, argv);
    }
    if (!strcmp(argv[1], "tune")) {
        return mot_cmd_tune(argc - 2, argv + 2);
    }
    fprintf(stderr, "error: unknown command '%s' (expected run, serve, bench, route, init, train, eval, perplexity, graph or tune; see mot --help)\n", argv[1]);
    return 2;
}

int main(int argc, char **argv) { return mot_stdout_finish(dispatch(argc, argv)); }
