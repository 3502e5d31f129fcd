#include "runtime/expert_prompt.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "runtime/chat_prompt.h"

/* The expert's prompt: its template with {prompt} replaced (every occurrence). */
static char *apply_template(const char *tmpl, const char *prompt) {
    if (!tmpl) {
        return strdup(prompt);
    }
    size_t pl = strlen(prompt), n = 0, cap = strlen(tmpl) + 1;
    for (const char *p = strstr(tmpl, "{prompt}"); p; p = strstr(p + 8, "{prompt}")) {
        cap += pl;
    }
    char *out = malloc(cap);
    if (!out) {
        return NULL;
    }
    for (const char *p = tmpl; *p;) {
        if (!strncmp(p, "{prompt}", 8)) {
            memcpy(out + n, prompt, pl);
            n += pl;
            p += 8;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = 0;
    return out;
}

mot_status mot_expert_prompt_tokens(const mot_model *m, int expert, const char *prompt, const char *system,
                                    int **ids, int *n) {
    if (m->chat[expert] != MOT_CHAT_NONE) {
        return mot_chat_encode(m->tokenizers[expert], m->chat[expert], system, prompt, ids, n);
    }
    char *text = apply_template(m->pipe->experts[expert].template_text, prompt);
    if (!text) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory");
    }
    mot_status st = mot_tokenizer_encode(m->tokenizers[expert], text, 1, ids, n);
    free(text);
    return st;
}

const char *mot_last_user_message(const mot_chat_message *msgs, int n) {
    for (int i = n - 1; i >= 0; i--) {
        if (msgs[i].role == MOT_CHAT_USER) {
            return msgs[i].content;
        }
    }
    return NULL;
}

mot_status mot_expert_prompt_messages(const mot_model *m, int expert, const mot_chat_message *msgs, int n_msgs,
                                      int **ids, int *n) {
    if (m->chat[expert] != MOT_CHAT_NONE) {
        return mot_chat_encode_messages(m->tokenizers[expert], m->chat[expert], msgs, n_msgs, ids, n);
    }
    const char *user = mot_last_user_message(msgs, n_msgs);
    if (!user) {
        return mot_fail(MOT_ERR_ARG, "'messages': no user message");
    }
    return mot_expert_prompt_tokens(m, expert, user, NULL, ids, n);
}
