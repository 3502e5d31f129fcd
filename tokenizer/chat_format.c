/* Chat formats: recognising one from a Jinja template's text, and writing one user turn
 * (+ system) in it exactly as the model's Hugging Face template renders it. */
#include "tokenizer/chat_format.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static const char *const names[MOT_CHAT_COUNT] = {
    [MOT_CHAT_NONE] = "none",
    [MOT_CHAT_CHATML] = "chatml",
    [MOT_CHAT_LLAMA2] = "llama2",
    [MOT_CHAT_LLAMA3] = "llama3",
    [MOT_CHAT_MISTRAL] = "mistral",
    [MOT_CHAT_MISTRAL_V1] = "mistral-v1",
    [MOT_CHAT_MISTRAL_V3] = "mistral-v3",
    [MOT_CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
    [MOT_CHAT_GEMMA] = "gemma",
    [MOT_CHAT_PHI3] = "phi3",
};

const char *mot_chat_format_name(mot_chat_format f) {
    return f > MOT_CHAT_NONE && f < MOT_CHAT_COUNT ? names[f] : "none";
}

const char *mot_chat_format_names(void) {
    return "chatml, llama2, llama3, mistral, mistral-v1, mistral-v3, mistral-v3-tekken, gemma, phi3";
}

mot_chat_format mot_chat_format_from_name(const char *name) {
    for (int f = MOT_CHAT_NONE + 1; name && f < MOT_CHAT_COUNT; f++) {
        if (!strcmp(name, names[f])) {
            return (mot_chat_format)f;
        }
    }
    return MOT_CHAT_NONE;
}

int mot_chat_format_writes_bos(mot_chat_format f) {
    return f == MOT_CHAT_LLAMA2 || f == MOT_CHAT_LLAMA3 || f == MOT_CHAT_MISTRAL || f == MOT_CHAT_MISTRAL_V1 ||
           f == MOT_CHAT_MISTRAL_V3 || f == MOT_CHAT_MISTRAL_V3_TEKKEN || f == MOT_CHAT_GEMMA;
}

/* ---- detection ---- */

static int has(const char *t, const char *s) { return strstr(t, s) != NULL; }

/* The [INST] family, told apart as llama.cpp does: mistralai's official v1/v3 templates by
 * their system-message line or their tool block, then the spacing around [INST]; the
 * Llama-2 ones by <<SYS>>; the rest is Mistral's first template. */
static mot_chat_format detect_inst(const char *t) {
    if (has(t, "[SYSTEM_PROMPT]")) {
        return MOT_CHAT_NONE; /* Mistral v7: not written by mot */
    }
    if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
        if (has(t, " [INST]")) {
            return MOT_CHAT_MISTRAL_V1;
        }
        return has(t, "\"[INST]\"") ? MOT_CHAT_MISTRAL_V3_TEKKEN : MOT_CHAT_MISTRAL_V3;
    }
    return has(t, "<<SYS>>") ? MOT_CHAT_LLAMA2 : MOT_CHAT_MISTRAL;
}

mot_chat_format mot_chat_detect(const char *t) {
    if (!t) {
        return MOT_CHAT_NONE;
    }
    if (has(t, "<|im_start|>")) {
        /* Phi-4 (<|im_sep|>) and SmolVLM (<end_of_utterance>) share the marker, not the format. */
        return has(t, "<|im_sep|>") || has(t, "<end_of_utterance>") ? MOT_CHAT_NONE : MOT_CHAT_CHATML;
    }
    if (!strncmp(t, "mistral", 7) || has(t, "[INST]")) {
        return detect_inst(t);
    }
    if (has(t, "<|assistant|>") && has(t, "<|end|>")) {
        return MOT_CHAT_PHI3;
    }
    if (has(t, "<start_of_turn>")) {
        return MOT_CHAT_GEMMA;
    }
    if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>")) {
        return MOT_CHAT_LLAMA3;
    }
    return MOT_CHAT_NONE;
}

/* ---- writing ---- */

typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} sbuf;

static void put_n(sbuf *b, const char *s, size_t n) {
    if (b->failed) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void put(sbuf *b, const char *s) { put_n(b, s, strlen(s)); }

/* The length of the whitespace character at s (0 when there is none): what Python's
 * str.isspace() accepts, since Jinja's `trim` and `.strip()` are str.strip(). */
static size_t space_len(const unsigned char *s, size_t n) {
    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20))) {
        return 1;
    }
    unsigned cp = 0;
    size_t k = 0;
    if (n >= 2 && (s[0] & 0xe0) == 0xc0 && (s[1] & 0xc0) == 0x80) {
        cp = ((s[0] & 0x1fu) << 6) | (s[1] & 0x3fu);
        k = 2;
    } else if (n >= 3 && (s[0] & 0xf0) == 0xe0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80) {
        cp = ((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
        k = 3;
    }
    int ws = cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
             cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
    return ws ? k : 0;
}

/* Appends s with leading and trailing whitespace removed (str.strip()). */
static void put_stripped(sbuf *b, const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text), start = 0, end = n, k;
    while (start < n && (k = space_len(s + start, n - start)) > 0) {
        start += k;
    }
    /* From the end: find the last non-space character by walking forward once. */
    end = start;
    for (size_t i = start; i < n;) {
        k = space_len(s + i, n - i);
        if (k) {
            i += k;
        } else {
            size_t step = 1;
            while (i + step < n && (s[i + step] & 0xc0) == 0x80) {
                step++;
            }
            i += step;
            end = i;
        }
    }
    put_n(b, text + start, end - start);
}

static const char *usual_bos(mot_chat_format f) {
    return f == MOT_CHAT_LLAMA3 ? "<|begin_of_text|>" : f == MOT_CHAT_GEMMA ? "<bos>" : "<s>";
}

static void chatml(sbuf *b, const char *system, const char *user) {
    if (system) {
        put(b, "<|im_start|>system\n");
        put(b, system);
        put(b, "<|im_end|>\n");
    }
    put(b, "<|im_start|>user\n");
    put(b, user);
    put(b, "<|im_end|>\n<|im_start|>assistant\n");
}

/* Meta's template strips the whole first message, <<SYS>> block included:
 * content = '<<SYS>>\n' + system + '\n<</SYS>>\n\n' + user; '[INST] ' + content.strip(). */
static void llama2(sbuf *b, const char *system, const char *user) {
    put(b, "[INST] ");
    if (system) {
        sbuf c = {0};
        put(&c, "<<SYS>>\n");
        put(&c, system);
        put(&c, "\n<</SYS>>\n\n");
        put(&c, user);
        b->failed |= c.failed;
        put_stripped(b, c.s ? c.s : "");
        free(c.s);
    } else {
        put_stripped(b, user);
    }
    put(b, " [/INST]");
}

static void llama3(sbuf *b, const char *system, const char *user) {
    if (system) {
        put(b, "<|start_header_id|>system<|end_header_id|>\n\n");
        put_stripped(b, system);
        put(b, "<|eot_id|>");
    }
    put(b, "<|start_header_id|>user<|end_header_id|>\n\n");
    put_stripped(b, user);
    put(b, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* The [INST] formats differ in the spaces around the markers and how a system message
 * joins the user's (the first Mistral template has no system role: llama.cpp's "\n"). */
static void mistral(sbuf *b, mot_chat_format f, const char *system, const char *user) {
    put(b, f == MOT_CHAT_MISTRAL_V1 ? " [INST] " : f == MOT_CHAT_MISTRAL_V3_TEKKEN ? "[INST]" : "[INST] ");
    if (system) {
        put(b, system);
        put(b, f == MOT_CHAT_MISTRAL ? "\n" : "\n\n");
    }
    put(b, user);
    put(b, f == MOT_CHAT_MISTRAL || f == MOT_CHAT_MISTRAL_V1 ? " [/INST]" : "[/INST]");
}

/* Gemma 3 puts the system message before the first user message's text (Gemma 1/2 reject
 * one: the same merge keeps it). */
static void gemma(sbuf *b, const char *system, const char *user) {
    put(b, "<start_of_turn>user\n");
    if (system) {
        put(b, system);
        put(b, "\n\n");
    }
    put_stripped(b, user);
    put(b, "<end_of_turn>\n<start_of_turn>model\n");
}

static void phi3(sbuf *b, const char *system, const char *user) {
    if (system) {
        put(b, "<|system|>\n");
        put(b, system);
        put(b, "<|end|>\n");
    }
    put(b, "<|user|>\n");
    put(b, user);
    put(b, "<|end|>\n<|assistant|>\n");
}

mot_status mot_chat_render(mot_chat_format f, const char *bos, const char *system, const char *user,
                           char **out) {
    *out = NULL;
    if (f <= MOT_CHAT_NONE || f >= MOT_CHAT_COUNT) {
        return mot_fail(MOT_ERR_ARG, "chat template: no format given (expected one of %s)", mot_chat_format_names());
    }
    sbuf b = {0};
    put(&b, "");
    if (mot_chat_format_writes_bos(f)) {
        put(&b, bos ? bos : usual_bos(f));
    }
    switch (f) {
    case MOT_CHAT_CHATML: chatml(&b, system, user); break;
    case MOT_CHAT_LLAMA2: llama2(&b, system, user); break;
    case MOT_CHAT_LLAMA3: llama3(&b, system, user); break;
    case MOT_CHAT_GEMMA: gemma(&b, system, user); break;
    case MOT_CHAT_PHI3: phi3(&b, system, user); break;
    default: mistral(&b, f, system, user); break;
    }
    if (b.failed) {
        free(b.s);
        return mot_fail(MOT_ERR_NOMEM, "chat template: out of memory");
    }
    *out = b.s;
    return MOT_OK;
}

mot_status mot_chat_apply(mot_chat_format f, const char *system, const char *user, char **out) {
    return mot_chat_render(f, NULL, system, user, out);
}
