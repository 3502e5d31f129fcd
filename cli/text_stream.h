/* What a command writes to standard output: checked like any file (below), and the generated
 * text streamed. The stream prints each token's new text as tokenizer/decode_stream.h gives it
 * (a window of recent tokens decoded, not the whole output: linear in its length), holding
 * back a trailing incomplete UTF-8 sequence until the next token completes it. Every write
 * and flush is checked: the first failure ("writing standard output: No space left on
 * device") sticks, stops the generation (on_token returns non-zero) and is what end returns. */
#ifndef MOT_CLI_TEXT_STREAM_H
#define MOT_CLI_TEXT_STREAM_H

#include <stdio.h>

#include "mot.h"
#include "tokenizer/decode_stream.h"
#include "tokenizer/tokenizer.h"

/* Standard output is an output like any file: a failed write (a full disk, `> /dev/full`, a
 * closed pipe when SIGPIPE is ignored) ends the command with "error: writing standard output:
 * REASON" and exit status 1, never a silent exit 0 with lost text.
 *
 * A pipe closed by its reader (`mot run ... | head`) keeps the Unix default: SIGPIPE ends mot
 * quietly, as it ends cat or grep. Only where SIGPIPE is ignored does the write fail with
 * EPIPE, and then it is reported like any other failed write. */

/* Records "writing standard output: strerror(err)" as the last error; returns MOT_ERR_IO. */
mot_status mot_stdout_fail(int err);

/* The end of every command (cli/main.c): flushes stdout and checks its error flag. On a
 * failure prints the error line and returns 1, unless rc already says the command failed
 * (its own error line is then printed already); otherwise returns rc. */
int mot_stdout_finish(int rc);

typedef struct {
    mot_decode_stream dec; /* skipping special tokens */
    FILE *out;
    mot_status err; /* the first failed write; nothing is written after it */
} mot_text_stream;

void mot_text_stream_init(mot_text_stream *s, const mot_tokenizer *tok, FILE *out);
/* Adds a token and prints the new text. */
mot_status mot_text_stream_push(mot_text_stream *s, int token);
/* Prints whatever was held back. */
mot_status mot_text_stream_finish(mot_text_stream *s);
void mot_text_stream_free(mot_text_stream *s);

/* A generation on_token callback (user: the stream); non-zero (stop) when printing failed. */
int mot_text_stream_on_token(void *stream, int token);
/* Ends a generation's text: prints what was held back when st (the generation's status) is
 * MOT_OK, then a newline; frees the stream. Returns st, or the error of a failed write. */
mot_status mot_text_stream_end(mot_text_stream *s, mot_status st);

#endif
