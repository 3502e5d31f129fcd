/* Chat prompts in a model's tokens: format resolution and the one-BOS rule (chat_prompt.h). */
#include "runtime/chat_prompt.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

mot_status mot_chat_resolve(const mot_tokenizer *tok, const char *forced_name, const char *source, const char *how,
                            mot_chat_format *out) {
    *out = MOT_CHAT_NONE;
    if (forced_name) {
        *out = mot_chat_format_from_name(forced_name);
        return *out ? MOT_OK
                    : mot_fail(MOT_ERR_ARG, "%s: unknown chat template '%s' (expected one of %s)", how, forced_name,
                               mot_chat_format_names());
    }
    const char *text = mot_tokenizer_chat_template(tok);
    if (!text) {
        return mot_fail(MOT_ERR_ARG, "%s: the model has no chat template (force one with %s NAME; known: %s)", source, how,
                        mot_chat_format_names());
    }
    *out = mot_chat_detect(text);
    return *out ? MOT_OK
                : mot_fail(MOT_ERR_ARG, "%s: its chat template is not one mot knows (force one with %s NAME; known: %s)",
                           source, how, mot_chat_format_names());
}

mot_status mot_chat_encode_messages(const mot_tokenizer *tok, mot_chat_format f, const mot_chat_message *msgs, int n,
                                    int **ids, int *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    /* The template's {{ bos_token }} / {{ eos_token }} are the tokenizer's texts ("" when it
     * has none). */
    const char *bos = mot_tokenizer_token(tok, mot_tokenizer_bos_id(tok));
    const char *eos = mot_tokenizer_token(tok, mot_tokenizer_eos_id(tok));
    char *text = NULL;
    MOT_TRY(mot_chat_render_messages(f, bos ? bos : "", eos ? eos : "", msgs, n, 1, &text));
    int *body = NULL, n_body = 0;
    mot_status st = mot_tokenizer_encode(tok, text, 0, &body, &n_body);
    free(text);
    MOT_TRY(st);
    const int *prefix;
    int n_prefix = mot_tokenizer_prefix(tok, &prefix);
    if (n_prefix > 0 && n_body >= n_prefix && !memcmp(body, prefix, (size_t)n_prefix * sizeof *prefix)) {
        n_prefix = 0; /* the template wrote it */
    }
    int *all = malloc((size_t)(n_prefix + n_body + 1) * sizeof *all);
    if (!all) {
        free(body);
        return mot_fail(MOT_ERR_NOMEM, "out of memory");
    }
    memcpy(all, prefix, (size_t)n_prefix * sizeof *all);
    memcpy(all + n_prefix, body, (size_t)n_body * sizeof *all);
    free(body);
    *ids = all;
    *n_ids = n_prefix + n_body;
    return MOT_OK;
}

mot_status mot_chat_encode(const mot_tokenizer *tok, mot_chat_format f, const char *system, const char *user,
                           int **ids, int *n_ids) {
    const mot_chat_message m[2] = {{MOT_CHAT_SYSTEM, system}, {MOT_CHAT_USER, user}};
    return system ? mot_chat_encode_messages(tok, f, m, 2, ids, n_ids)
                  : mot_chat_encode_messages(tok, f, m + 1, 1, ids, n_ids);
}
