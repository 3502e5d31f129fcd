/* mot run -m MODEL -cnv: a chat in the terminal (or from a pipe), one user turn per line, the
 * model's chat template applied to the whole conversation, its KV cache kept between turns
 * (runtime/conversation.h). */
#include <errno.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/run_conversation.h"
#include "cli/text_stream.h"
#include "common/error.h"
#include "runtime/conversation.h"
#include "runtime/dump.h"

/* Ctrl-C while the model answers stops the answer (what it said stays in the conversation)
 * and the next turn is read; at the prompt it ends mot as usual. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static int on_token(void *stream, int token) { return mot_text_stream_on_token(stream, token) || interrupted; }

/* A turn is at most 16 MiB of text, as a prompt file (cli/cmd_run.c): about 4M tokens, past
 * any context, and a bound on the memory a runaway input can take. */
#define MOT_MAX_TURN_BYTES ((size_t)16 << 20)

typedef struct {
    char *s; /* NUL-terminated once anything was read */
    size_t len, cap;
} text_buf;

static mot_status put_char(text_buf *b, char ch, int turn) {
    if (b->len >= MOT_MAX_TURN_BYTES) {
        return mot_fail(MOT_ERR_ARG, "standard input: turn %d is longer than %zu MiB", turn, MOT_MAX_TURN_BYTES >> 20);
    }
    if (b->len + 2 > b->cap) {
        const size_t cap = b->cap ? 2 * b->cap : 256;
        char *p = realloc(b->s, cap);
        if (!p) {
            return mot_fail(MOT_ERR_NOMEM, "out of memory reading turn %d", turn);
        }
        b->s = p, b->cap = cap;
    }
    b->s[b->len++] = ch;
    b->s[b->len] = 0;
    return MOT_OK;
}

/* Turn number `turn` from `in` into b: a line (its "\n" or "\r\n" dropped); a line that ends
 * with a backslash goes on with the next, the backslash becoming a newline (llama.cpp's
 * multi-line input). Blank turns are skipped. *got: 1 with a turn, 0 at the end of the input.
 * A NUL byte is an error (it would silently cut the turn), as in a prompt file. */
static mot_status read_turn(FILE *in, int prompt, int turn, text_buf *b, int *got) {
    *got = 0;
    for (;;) {
        if (prompt) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        b->len = 0;
        size_t line_start = 0;
        int ch;
        for (;;) {
            ch = getc(in);
            if (ch == EOF || ch == '\n') {
                while (b->len > line_start && b->s[b->len - 1] == '\r') {
                    b->len--;
                }
                if (ch == '\n' && b->len > line_start && b->s[b->len - 1] == '\\') {
                    b->s[b->len - 1] = '\n';
                    line_start = b->len;
                    continue;
                }
                break;
            }
            if (ch == 0) {
                return mot_fail(MOT_ERR_ARG, "standard input: turn %d holds a NUL byte; turns are text", turn);
            }
            MOT_TRY(put_char(b, (char)ch, turn));
        }
        if (b->len > 0) {
            b->s[b->len] = 0;
            if (strspn(b->s, " \t\r\n") < b->len) {
                *got = 1;
                return MOT_OK;
            }
        }
        if (ch == EOF) {
            return MOT_OK;
        }
    }
}

/* The figures of all turns, for the line at the end. */
typedef struct {
    int turns, fed, reused, generated, decoded;
    double prompt_s, gen_s;
} totals;

static mot_status say(mot_conversation *c, const char *text, mot_conversation_turn *t, totals *sum) {
    mot_text_stream stream;
    mot_text_stream_init(&stream, c->tok, stdout);
    c->params.on_token = on_token;
    c->params.user = &stream;
    interrupted = 0;
    struct sigaction sa = {.sa_handler = on_sigint}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    mot_status st = mot_conversation_say(c, text, t);
    sigaction(SIGINT, &old, NULL);
    st = mot_text_stream_end(&stream, st);
    if (interrupted) {
        fprintf(stderr, "mot: [the answer was interrupted]\n");
    }
    const int n = t->reply.sampled.n;
    sum->turns++;
    sum->fed += t->reply.n_prompt - t->n_reused;
    sum->reused += t->n_reused;
    sum->prompt_s += t->reply.prompt_s;
    sum->generated += n;
    sum->decoded += n > 0 ? n - 1 : 0; /* the first token of an answer comes from its prompt's pass */
    sum->gen_s += t->reply.gen_s;
    return st;
}

mot_status mot_run_conversation(const run_options *o, const mot_expert *ex, const mot_tokenizer *tok,
                                mot_chat_format format, int n_ctx, const mot_generate_params *gp,
                                const char *first) {
    mot_conversation c;
    mot_conversation_turn t = {0};
    mot_status st = mot_conversation_open(&c, ex, tok, format, o->chat.system, n_ctx, o->n_batch, gp);
    totals sum = {0};
    text_buf buf = {0};
    const int tty = isatty(STDIN_FILENO);
    if (st == MOT_OK && first) {
        st = say(&c, first, &t, &sum);
    }
    while (st == MOT_OK) {
        int got;
        st = read_turn(stdin, tty, sum.turns + 1, &buf, &got);
        if (st != MOT_OK || !got) {
            break;
        }
        st = say(&c, buf.s, &t, &sum);
    }
    if (st == MOT_OK && ferror(stdin)) {
        st = mot_fail(MOT_ERR_IO, "reading standard input: %s", strerror(errno));
    }
    if (st == MOT_OK) {
        fprintf(stderr,
                "mot: %d turn%s | prompt %d tokens fed (%d reused from the cache), %.2f tok/s | generation %d tokens, "
                "%.2f tok/s | threads %d\n",
                sum.turns, sum.turns == 1 ? "" : "s", sum.fed, sum.reused,
                sum.prompt_s > 0 ? sum.fed / sum.prompt_s : 0.0, sum.generated,
                sum.gen_s > 0 ? sum.decoded / sum.gen_s : 0.0, omp_get_max_threads());
    }
    if (st == MOT_OK && o->dump_path && sum.turns == 0) {
        st = mot_fail(MOT_ERR_ARG, "--dump: no turn came from standard input, so there is nothing to dump");
    } else if (st == MOT_OK && o->dump_path) {
        st = mot_dump_single(o->dump_path, ex->name, c.slot.cache, t.reply.n_prompt, &t.reply.sampled, ex->cfg.vocab,
                             o->exec.force);
    }
    free(buf.s);
    mot_conversation_turn_free(&t);
    mot_conversation_close(&c);
    return st;
}
