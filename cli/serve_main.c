/* mot-serve: the program of `mot serve` (mot runs it from beside itself: cli/main.c), so that
 * the HTTP server's libraries load only when serving. The command is cli/cmd_serve.c. */
#include "cli/commands.h"
#include "cli/text_stream.h"

int main(int argc, char **argv) { return mot_stdout_finish(mot_cmd_serve(argc - 1, argv + 1)); }
