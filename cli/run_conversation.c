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

typedef struct {
    mot_text_stream stream;
} reply_sink;

static int on_token(void *user, int token) {
    reply_sink *r = user;
    return mot_text_stream_on_token(&r->stream, token) || interrupted;
}

/* Appends text[0..n) to the growing turn *buf (len bytes so far). 0 when out of memory. */
static int append(char **buf, size_t *cap, size_t *len, const char *text, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1) {
            c *= 2;
        }
        char *p = realloc(*buf, c);
        if (!p) {
            return 0;
        }
        *buf = p, *cap = c;
    }
    memcpy(*buf + *len, text, n);
    *len += n;
    (*buf)[*len] = 0;
    return 1;
}

/* One user turn from `in` into *buf: a line; a line that ends with a backslash goes on with
 * the next (the backslash becomes a newline), as in llama.cpp. Blank turns are skipped.
 * Returns 1 with a turn, 0 at the end of the input, -1 out of memory. */
static int read_turn(FILE *in, int prompt, char **buf, size_t *cap) {
    char *line = NULL;
    size_t line_cap = 0;
    int rc = 0;
    for (;;) {
        if (prompt) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        size_t len = 0;
        int eof = 0, more = 1;
        while (more) {
            ssize_t got = getline(&line, &line_cap, in);
            if (got < 0) {
                eof = 1;
                break;
            }
            while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) {
                got--;
            }
            more = got > 0 && line[got - 1] == '\\';
            if (more) {
                line[got - 1] = '\n';
            }
            if (!append(buf, cap, &len, line, (size_t)got)) {
                free(line);
                return -1;
            }
        }
        if (len > 0 && strspn(*buf, " \t\r\n") < len) {
            rc = 1;
            break;
        }
        if (eof) {
            break;
        }
    }
    free(line);
    return rc;
}

/* The figures of all turns, for the line at the end. */
typedef struct {
    int turns, fed, reused, generated, decoded;
    double prompt_s, gen_s;
} totals;

static mot_status say(mot_conversation *c, const char *text, mot_conversation_turn *t, totals *sum) {
    reply_sink sink;
    mot_text_stream_init(&sink.stream, c->tok, stdout);
    c->params.on_token = on_token;
    c->params.user = &sink;
    interrupted = 0;
    struct sigaction sa = {.sa_handler = on_sigint}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    mot_status st = mot_conversation_say(c, text, t);
    sigaction(SIGINT, &old, NULL);
    st = mot_text_stream_end(&sink.stream, st);
    if (interrupted) {
        fprintf(stderr, "mot: [the answer was interrupted]\n");
    }
    const int n = t->reply.sampled.n;
    sum->turns++;
    sum->fed += t->n_prompt - t->n_reused;
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
    char *buf = NULL;
    size_t cap = 0;
    const int tty = isatty(STDIN_FILENO);
    if (st == MOT_OK && first) {
        st = say(&c, first, &t, &sum);
    }
    while (st == MOT_OK) {
        const int r = read_turn(stdin, tty, &buf, &cap);
        if (r < 0) {
            st = mot_fail(MOT_ERR_NOMEM, "out of memory reading the next turn");
        }
        if (r <= 0) {
            break;
        }
        st = say(&c, buf, &t, &sum);
    }
    if (st == MOT_OK && ferror(stdin)) {
        st = mot_fail(MOT_ERR_IO, "reading standard input: %s", strerror(errno));
    }
    if (st == MOT_OK) {
        fprintf(stderr,
                "mot: %d turn%s | prompt %d tokens fed (%d reused from the cache), %.2f tok/s | generation %d tokens, "
                "%.2f tok/s | threads %d\n",
                sum.turns, sum.turns == 1 ? "" : "s", sum.fed, sum.reused, sum.prompt_s > 0 ? sum.fed / sum.prompt_s : 0.0, sum.generated,
                sum.gen_s > 0 ? sum.decoded / sum.gen_s : 0.0, omp_get_max_threads());
    }
    if (st == MOT_OK && o->dump_path && sum.turns > 0) {
        st = mot_dump_single(o->dump_path, ex->name, c.prompt, c.n_prompt, &t.reply.sampled, ex->cfg.vocab,
                             o->exec.force);
    }
    free(buf);
    mot_conversation_turn_free(&t);
    mot_conversation_close(&c);
    return st;
}
