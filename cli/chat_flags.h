/* The chat flags of `mot run -m`: --chat, --chat-template NAME, --chat-template-file FILE,
 * --system TEXT (llama.cpp's spellings). */
#ifndef MOT_CLI_CHAT_FLAGS_H
#define MOT_CLI_CHAT_FLAGS_H

#include "cli/args.h"
#include "tokenizer/chat_format.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    int chat;               /* --chat, or implied by a forced template */
    const char *how;        /* the flag that forced the format, for messages; NULL: none */
    mot_chat_format forced; /* from --chat-template / --chat-template-file; NONE: the model's */
    const char *system;     /* --system TEXT, or NULL */
} mot_chat_flags;

/* Returns 1 when argv[a->i] is a chat flag (*st says whether its value was good), else 0.
 * --chat-template takes a name (an unknown one is an error listing the known ones) or, as in
 * llama.cpp, Jinja text ("{%" or "{{" in it), recognised like a model's template;
 * --chat-template-file reads the Jinja text from a file. Both imply --chat. */
int mot_arg_chat(mot_args *a, mot_chat_flags *c, mot_status *st);

/* After parsing: --system needs chat. */
mot_status mot_chat_flags_check(const mot_chat_flags *c);

/* The format for the model: the forced one, else its tokenizer's template (model names the
 * folder in messages). */
mot_status mot_chat_flags_format(const mot_chat_flags *c, const mot_tokenizer *tok, const char *model,
                                 mot_chat_format *out);

#endif
