/* mot run -m MODEL --conversation (-cnv): an interactive chat with one model. */
#ifndef MOT_CLI_RUN_CONVERSATION_H
#define MOT_CLI_RUN_CONVERSATION_H

#include "cli/run_options.h"
#include "runtime/generate.h"
#include "tokenizer/chat_format.h"
#include "tokenizer/tokenizer.h"

/* Turns from `first` (-p / -f, or NULL) and then from standard input, a line each (a line
 * ending in a backslash goes on with the next); each answer streamed to stdout and ended with
 * a newline; "> " before each read when stdin is a terminal. At the end of the input, one
 * line of figures on stderr and, with --dump, the last turn (the whole conversation as its
 * prompt, the answer's tokens and logits) in the dump format. */
mot_status mot_run_conversation(const run_options *o, const mot_expert *ex, const mot_tokenizer *tok,
                                mot_chat_format format, int n_ctx, const mot_generate_params *gp,
                                const char *first);

#endif
