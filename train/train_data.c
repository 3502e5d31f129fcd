#include "train/train_data.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "runtime/expert_prompt.h"
#include "runtime/router.h"

static void example_free(mot_train_example *e) {
    free(e->ids), free(e->n), free(e->n_prompt), free(e->offset), free(e->z);
}

void mot_train_data_free(mot_train_data *d) {
    for (int i = 0; i < d->n; i++) {
        example_free(&d->ex[i]);
    }
    free(d->ex);
    free(d->path);
    *d = (mot_train_data){0};
}

/* Every expert's tokens of one example: prompt (as generation builds it) + completion. */
static mot_status tokenize_example(const mot_model *m, const char *path, int line, const char *prompt,
                                   const char *completion, int max_tokens, mot_train_example *e) {
    const int M = m->n_experts;
    e->n = calloc((size_t)M, sizeof *e->n);
    e->n_prompt = calloc((size_t)M, sizeof *e->n_prompt);
    e->offset = calloc((size_t)M, sizeof *e->offset);
    if (!e->n || !e->n_prompt || !e->offset) {
        return mot_fail(MOT_ERR_NOMEM, "%s:%d: out of memory", path, line);
    }
    size_t total = 0;
    for (int x = 0; x < M; x++) {
        int *p = NULL, *c = NULL, np = 0, nc = 0;
        mot_status st = mot_expert_prompt_tokens(m, x, prompt, NULL, &p, &np);
        if (st == MOT_OK) {
            st = mot_tokenizer_encode(m->tokenizers[x], completion, 0, &c, &nc);
        }
        if (st != MOT_OK) {
            free(p), free(c);
            return mot_fail_prefix(st, "%s:%d: error: expert '%s'", path, line, m->pipe->experts[x].name);
        }
        const mot_config *cfg = &m->experts[x]->cfg;
        int limit = max_tokens > 0 && max_tokens < cfg->max_pos ? max_tokens : cfg->max_pos;
        const char *why = NULL;
        if (np == 0) why = "the prompt has no tokens";
        else if (nc == 0) why = "the completion has no tokens";
        else if (np + nc > limit) why = "too long";
        for (int t = 0; !why && t < np + nc; t++) {
            int id = t < np ? p[t] : c[t - np];
            if (id < 0 || id >= cfg->vocab) why = "a token id outside the model's vocabulary";
        }
        if (why) {
            free(p), free(c);
            if (!strcmp(why, "too long")) {
                return mot_fail(MOT_ERR_ARG, "%s:%d: error: %d tokens for expert '%s', longer than its context (%d%s)", path,
                                line, np + nc, m->pipe->experts[x].name, limit,
                                limit == cfg->max_pos ? "" : ", --max-tokens");
            }
            return mot_fail(MOT_ERR_ARG, "%s:%d: error: expert '%s': %s", path, line, m->pipe->experts[x].name, why);
        }
        int *grown = realloc(e->ids, (total + (size_t)np + (size_t)nc) * sizeof *grown);
        if (!grown) {
            free(p), free(c);
            return mot_fail(MOT_ERR_NOMEM, "%s:%d: out of memory", path, line);
        }
        e->ids = grown;
        e->offset[x] = total;
        memcpy(e->ids + total, p, (size_t)np * sizeof *p);
        memcpy(e->ids + total + np, c, (size_t)nc * sizeof *c);
        total += (size_t)np + (size_t)nc;
        e->n[x] = np + nc;
        e->n_prompt[x] = np;
        free(p), free(c);
    }
    e->line = line;
    e->completion_bytes = strlen(completion);
    e->route_target = -1;
    return MOT_OK;
}

static mot_status parse_line(const char *path, int line, const char *text, size_t len, const char **prompt,
                             const char **completion, json_t **doc) {
    json_error_t err;
    *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!*doc) {
        return mot_fail(MOT_ERR_FORMAT, "%s:%d:%d: error: %s", path, line, err.column > 0 ? err.column : 1, err.text);
    }
    json_t *p = json_object_get(*doc, "prompt"), *c = json_object_get(*doc, "completion");
    if (!json_is_object(*doc) || !json_is_string(p) || !json_is_string(c)) {
        return mot_fail(MOT_ERR_FORMAT,
                        "%s:%d: error: expected a JSON object with string fields \"prompt\" and \"completion\"", path,
                        line);
    }
    if (strlen(json_string_value(c)) != json_string_length(c) || strlen(json_string_value(p)) != json_string_length(p)) {
        return mot_fail(MOT_ERR_FORMAT, "%s:%d: error: a NUL character (\\u0000) in the text", path, line);
    }
    *prompt = json_string_value(p);
    *completion = json_string_value(c);
    if (!**completion) {
        return mot_fail(MOT_ERR_ARG, "%s:%d: error: the completion is empty (nothing to learn or score)", path, line);
    }
    return MOT_OK;
}

static int blank(const char *s) {
    for (; *s; s++) {
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return 0;
    }
    return 1;
}

mot_status mot_train_data_load(const mot_model *m, const char *path, int max_tokens, mot_train_data *d) {
    *d = (mot_train_data){0};
    struct stat sb;
    if (stat(path, &sb) != 0) {
        return mot_fail(MOT_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode)) {
        return mot_fail(MOT_ERR_IO, "%s: is a directory (expected a JSON Lines file)", path);
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        return mot_fail(MOT_ERR_IO, "%s: %s", path, strerror(errno));
    }
    mot_prompt_encoder *enc = NULL;
    mot_status st = mot_prompt_encoder_create(m, &enc);
    d->path = strdup(path);
    char *text = NULL;
    size_t cap = 0;
    int line = 0, cap_ex = 0;
    ssize_t len;
    while (st == MOT_OK && (len = getline(&text, &cap, f)) >= 0) {
        line++;
        if ((size_t)len > MOT_TRAIN_LINE_MAX) {
            st = mot_fail(MOT_ERR_ARG, "%s:%d: error: line longer than %u MiB", path, line, MOT_TRAIN_LINE_MAX >> 20);
            break;
        }
        if (memchr(text, 0, (size_t)len) || blank(text)) {
            if (!blank(text)) st = mot_fail(MOT_ERR_FORMAT, "%s:%d: error: a NUL byte in the line", path, line);
            continue; /* blank lines are allowed, as in most JSONL readers */
        }
        const char *prompt = NULL, *completion = NULL;
        json_t *doc = NULL;
        st = parse_line(path, line, text, (size_t)len, &prompt, &completion, &doc);
        if (st == MOT_OK && d->n == cap_ex) {
            cap_ex = cap_ex ? 2 * cap_ex : 64;
            mot_train_example *grown = realloc(d->ex, (size_t)cap_ex * sizeof *grown);
            if (!grown) st = mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
            else d->ex = grown;
        }
        if (st == MOT_OK) {
            mot_train_example *e = &d->ex[d->n++];
            *e = (mot_train_example){0};
            st = tokenize_example(m, path, line, prompt, completion, max_tokens, e);
            if (st == MOT_OK) {
                e->z = malloc((size_t)enc->dim * sizeof *e->z);
                st = e->z ? enc->encode(enc, prompt, e->z)
                          : mot_fail(MOT_ERR_NOMEM, "%s:%d: out of memory", path, line);
                if (st != MOT_OK) st = mot_fail_prefix(st, "%s:%d: error", path, line);
            }
        }
        json_decref(doc);
        if (st == MOT_OK && d->n % 10000 == 0) {
            fprintf(stderr, "\rreading %s: %d examples", path, d->n);
        }
    }
    if (d->n >= 10000) fprintf(stderr, "\n");
    if (st == MOT_OK && ferror(f)) st = mot_fail(MOT_ERR_IO, "%s: read error", path);
    if (st == MOT_OK && d->n == 0) st = mot_fail(MOT_ERR_ARG, "%s: no examples (expected JSON Lines: one {\"prompt\": ..., \"completion\": ...} a line)", path);
    free(text);
    fclose(f);
    if (enc) enc->destroy(enc);
    if (st != MOT_OK) mot_train_data_free(d);
    return st;
}
