#include "runtime/dump.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"
#include "model/safetensors.h"

/* What one expert's two entries point into. */
typedef struct {
    char tokens_name[300], logits_name[300];
    int32_t *tokens; /* [N + T] */
} expert_dump;

/* e[0] = tokens.{name}, e[1] = logits.{name}; free d->tokens after writing. */
static mot_status expert_entries(const char *path, const char *name, const int *prompt, int n_prompt,
                                 const mot_token_log *sampled, int vocab, expert_dump *d, mot_st_entry *e) {
    d->tokens = malloc((size_t)(n_prompt + sampled->n + 1) * sizeof *d->tokens);
    if (!d->tokens) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < n_prompt; i++) d->tokens[i] = prompt[i];
    for (int i = 0; i < sampled->n; i++) d->tokens[n_prompt + i] = sampled->tokens[i];
    snprintf(d->tokens_name, sizeof d->tokens_name, "tokens.%s", name);
    snprintf(d->logits_name, sizeof d->logits_name, "logits.%s", name);
    e[0] = (mot_st_entry){d->tokens_name, MOT_DTYPE_I32, 1, {n_prompt + sampled->n}, d->tokens};
    e[1] = (mot_st_entry){d->logits_name, MOT_DTYPE_F32, 2, {sampled->n, vocab}, sampled->logits};
    return MOT_OK;
}

mot_status mot_dump_single(const char *path, const char *name, const int *prompt, int n_prompt,
                           const mot_token_log *sampled, int vocab, int force) {
    expert_dump d;
    mot_st_entry e[2];
    MOT_TRY(expert_entries(path, name, prompt, n_prompt, sampled, vocab, &d, e));
    mot_status st = mot_st_write(path, e, 2, force);
    free(d.tokens);
    return st;
}

mot_status mot_session_dump(const mot_session *s, const char *path, int force) {
    const mot_model *m = s->m;
    mot_st_entry *e = calloc((size_t)(2 + 2 * s->n_lanes), sizeof *e);
    expert_dump *d = calloc((size_t)s->n_lanes, sizeof *d);
    int32_t *active = calloc((size_t)s->n_lanes, sizeof *active);
    mot_status st = MOT_OK;
    if (!e || !d || !active) {
        st = mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    int n = 0;
    if (st == MOT_OK && s->route->scores) {
        e[n++] = (mot_st_entry){"route.scores", MOT_DTYPE_F32, 1, {m->n_experts}, s->route->scores};
    }
    for (int i = 0; st == MOT_OK && i < s->n_lanes; i++) {
        active[i] = s->lanes[i].expert;
    }
    if (st == MOT_OK) {
        e[n++] = (mot_st_entry){"route.active", MOT_DTYPE_I32, 1, {s->n_lanes}, active};
    }
    for (int i = 0; st == MOT_OK && i < s->n_lanes; i++) {
        const mot_lane *L = &s->lanes[i];
        st = expert_entries(path, m->pipe->experts[L->expert].name, L->prompt, L->n_prompt, &L->sampled,
                            m->experts[L->expert]->cfg.vocab, &d[i], &e[n]);
        n += 2;
    }
    if (st == MOT_OK) {
        st = mot_st_write(path, e, n, force);
    }
    for (int i = 0; d && i < s->n_lanes; i++) free(d[i].tokens);
    free(d), free(active), free(e);
    return st;
}
