/* --chat, --chat-template, --chat-template-file, --system (chat_flags.h). */
#include "cli/chat_flags.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mapped_file.h"
#include "runtime/chat_prompt.h"

static int looks_like_jinja(const char *s) { return strstr(s, "{%") || strstr(s, "{{"); }

/* Jinja text given on the command line or in a file: recognised, or an error saying so. */
static mot_status from_text(const char *text, const char *where, mot_chat_format *out) {
    *out = mot_chat_detect(text);
    return *out ? MOT_OK
                : mot_fail(MOT_ERR_ARG, "%s: the chat template is not one mot knows (give a name instead: %s)", where,
                           mot_chat_format_names());
}

static mot_status template_arg(mot_args *a, mot_chat_flags *c) {
    const char *v;
    MOT_TRY(mot_arg_str(a, &v));
    c->how = "--chat-template";
    c->forced = mot_chat_format_from_name(v);
    if (c->forced) {
        return MOT_OK;
    }
    if (looks_like_jinja(v)) {
        return from_text(v, "--chat-template", &c->forced);
    }
    return mot_fail(MOT_ERR_ARG, "--chat-template: unknown chat template '%s' (expected one of %s)", v,
                    mot_chat_format_names());
}

static mot_status template_file_arg(mot_args *a, mot_chat_flags *c) {
    const char *path;
    MOT_TRY(mot_arg_str(a, &path));
    char *text = NULL;
    size_t size;
    MOT_TRY(mot_read_file(path, &text, &size));
    mot_status st = from_text(text, path, &c->forced);
    free(text);
    c->how = "--chat-template-file";
    return st;
}

int mot_arg_chat(mot_args *a, mot_chat_flags *c, mot_status *st) {
    const char *f = a->argv[a->i];
    *st = MOT_OK;
    if (!strcmp(f, "--chat")) {
        c->chat = 1;
    } else if (!strcmp(f, "--chat-template")) {
        *st = template_arg(a, c);
        c->chat = 1;
    } else if (!strcmp(f, "--chat-template-file")) {
        *st = template_file_arg(a, c);
        c->chat = 1;
    } else if (!strcmp(f, "--system")) {
        *st = mot_arg_str(a, &c->system);
    } else {
        return 0;
    }
    return 1;
}

mot_status mot_chat_flags_check(const mot_chat_flags *c) {
    if (c->system && !c->chat) {
        return mot_fail(MOT_ERR_ARG, "--system: a system message needs a chat template (add --chat or "
                                     "--chat-template NAME)");
    }
    return MOT_OK;
}

mot_status mot_chat_flags_format(const mot_chat_flags *c, const mot_tokenizer *tok, const char *model,
                                 mot_chat_format *out) {
    if (c->forced) {
        *out = c->forced;
        return MOT_OK;
    }
    return mot_chat_resolve(tok, NULL, model, "--chat-template", out);
}
