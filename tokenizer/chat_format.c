/* Chat formats: recognising one from a Jinja template's text, and writing a conversation
 * (system, user, assistant, ...) in it exactly as the model's Hugging Face template renders it. */
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
static const char *usual_eos(mot_chat_format f) { return f == MOT_CHAT_PHI3 ? "<|endoftext|>" : "</s>"; }

/* What the writers see: the optional system message taken out (the templates all treat it
 * apart), the turns after it, user first and alternating. */
typedef struct {
    mot_chat_format f;
    const char *bos, *eos;
    const char *system;           /* NULL: none */
    const mot_chat_message *turn; /* user, assistant, user, ... */
    int n;
    int gen;                      /* add_generation_prompt */
} chat;

static const char *role_name(mot_chat_role r) {
    return r == MOT_CHAT_SYSTEM ? "system" : r == MOT_CHAT_USER ? "user" : "assistant";
}

static void chatml(sbuf *b, const chat *c) {
    if (c->system) {
        put(b, "<|im_start|>system\n");
        put(b, c->system);
        put(b, "<|im_end|>\n");
    }
    for (int i = 0; i < c->n; i++) {
        put(b, "<|im_start|>");
        put(b, role_name(c->turn[i].role));
        put(b, "\n");
        put(b, c->turn[i].content);
        put(b, "<|im_end|>\n");
    }
    if (c->gen) {
        put(b, "<|im_start|>assistant\n");
    }
}

/* Meta's template: every user turn starts with BOS; the first one's content, <<SYS>> block
 * included, is stripped as a whole: '<<SYS>>\n' + system + '\n<</SYS>>\n\n' + user; an
 * assistant turn is ' ' + content.strip() + ' ' + eos. No generation prompt. */
static void llama2(sbuf *b, const chat *c) {
    for (int i = 0; i < c->n; i++) {
        const char *content = c->turn[i].content;
        if (c->turn[i].role == MOT_CHAT_ASSISTANT) {
            put(b, " ");
            put_stripped(b, content);
            put(b, " ");
            put(b, c->eos);
            continue;
        }
        put(b, c->bos);
        put(b, "[INST] ");
        if (i == 0 && c->system) {
            sbuf s = {0};
            put(&s, "<<SYS>>\n");
            put(&s, c->system);
            put(&s, "\n<</SYS>>\n\n");
            put(&s, content);
            b->failed |= s.failed;
            put_stripped(b, s.s ? s.s : "");
            free(s.s);
        } else {
            put_stripped(b, content);
        }
        put(b, " [/INST]");
    }
}

static void llama3(sbuf *b, const chat *c) {
    put(b, c->bos);
    for (int i = -1; i < c->n; i++) {
        if (i < 0 && !c->system) {
            continue;
        }
        put(b, "<|start_header_id|>");
        put(b, i < 0 ? "system" : role_name(c->turn[i].role));
        put(b, "<|end_header_id|>\n\n");
        put_stripped(b, i < 0 ? c->system : c->turn[i].content);
        put(b, "<|eot_id|>");
    }
    if (c->gen) {
        put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    }
}

/* The [INST] formats differ in the spaces around the markers, how an assistant turn ends
 * and where the system message goes: the first template has no system role (llama.cpp's
 * merge: "system\nuser" as the first user turn), 'v1' joins it to the first user turn,
 * 'v3' and 'v3-tekken' to the last message when that is a user turn (so it moves as the
 * conversation grows, and is absent when the last message is the assistant's). */
static void mistral(sbuf *b, const chat *c) {
    const mot_chat_format f = c->f;
    put(b, c->bos);
    for (int i = 0; i < c->n; i++) {
        const char *content = c->turn[i].content;
        if (c->turn[i].role == MOT_CHAT_ASSISTANT) {
            if (f == MOT_CHAT_MISTRAL_V1) {
                put(b, " ");
                put(b, content);
            } else if (f == MOT_CHAT_MISTRAL_V3) {
                put(b, " ");
                put_stripped(b, content);
            } else {
                put(b, content);
            }
            put(b, c->eos);
            continue;
        }
        put(b, f == MOT_CHAT_MISTRAL_V1 ? " [INST] " : f == MOT_CHAT_MISTRAL_V3_TEKKEN ? "[INST]" : "[INST] ");
        const int with_system = f == MOT_CHAT_MISTRAL || f == MOT_CHAT_MISTRAL_V1 ? i == 0 : i == c->n - 1;
        if (with_system && c->system) {
            put(b, c->system);
            put(b, f == MOT_CHAT_MISTRAL ? "\n" : "\n\n");
        }
        put(b, content);
        put(b, f == MOT_CHAT_MISTRAL || f == MOT_CHAT_MISTRAL_V1 ? " [/INST]" : "[/INST]");
    }
}

/* Gemma 3 puts the system message before the first user turn's text (Gemma 1/2 reject one:
 * the same merge keeps it); the assistant's role is "model". */
static void gemma(sbuf *b, const chat *c) {
    put(b, c->bos);
    for (int i = 0; i < c->n; i++) {
        put(b, c->turn[i].role == MOT_CHAT_USER ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
        if (i == 0 && c->system) {
            put(b, c->system);
            put(b, "\n\n");
        }
        put_stripped(b, c->turn[i].content);
        put(b, "<end_of_turn>\n");
    }
    if (c->gen) {
        put(b, "<start_of_turn>model\n");
    }
}

static void phi3(sbuf *b, const chat *c) {
    for (int i = -1; i < c->n; i++) {
        if (i < 0 && !c->system) {
            continue;
        }
        const mot_chat_role r = i < 0 ? MOT_CHAT_SYSTEM : c->turn[i].role;
        put(b, r == MOT_CHAT_SYSTEM ? "<|system|>\n" : r == MOT_CHAT_USER ? "<|user|>\n" : "<|assistant|>\n");
        put(b, i < 0 ? c->system : c->turn[i].content);
        put(b, "<|end|>\n");
    }
    put(b, c->gen ? "<|assistant|>\n" : c->eos);
}

mot_status mot_chat_render_messages(mot_chat_format f, const char *bos, const char *eos, const mot_chat_message *msgs,
                                    int n, int add_generation_prompt, char **out) {
    *out = NULL;
    if (f <= MOT_CHAT_NONE || f >= MOT_CHAT_COUNT) {
        return mot_fail(MOT_ERR_ARG, "chat template: no format given (expected one of %s)", mot_chat_format_names());
    }
    chat c = {.f = f, .bos = mot_chat_format_writes_bos(f) ? (bos ? bos : usual_bos(f)) : "",
              .eos = eos ? eos : usual_eos(f), .turn = msgs, .n = n, .gen = add_generation_prompt != 0};
    if (n > 0 && msgs[0].role == MOT_CHAT_SYSTEM) {
        if (!msgs[0].content) {
            return mot_fail(MOT_ERR_ARG, "chat: the system message has no text");
        }
        c.system = msgs[0].content;
        c.turn++, c.n--;
    }
    for (int i = 0; i < c.n; i++) {
        if (c.turn[i].role != (i % 2 ? MOT_CHAT_ASSISTANT : MOT_CHAT_USER) || !c.turn[i].content) {
            return mot_fail(MOT_ERR_ARG, "chat: message %d is %s; after an optional system message the roles alternate "
                                         "user, assistant, user, ...",
                            i + (c.system != NULL), c.turn[i].content ? role_name(c.turn[i].role) : "without text");
        }
    }
    sbuf b = {0};
    put(&b, "");
    switch (f) {
    case MOT_CHAT_CHATML: chatml(&b, &c); break;
    case MOT_CHAT_LLAMA2: llama2(&b, &c); break;
    case MOT_CHAT_LLAMA3: llama3(&b, &c); break;
    case MOT_CHAT_GEMMA: gemma(&b, &c); break;
    case MOT_CHAT_PHI3: phi3(&b, &c); break;
    default: mistral(&b, &c); break;
    }
    if (b.failed) {
        free(b.s);
        return mot_fail(MOT_ERR_NOMEM, "chat template: out of memory");
    }
    *out = b.s;
    return MOT_OK;
}

mot_status mot_chat_render(mot_chat_format f, const char *bos, const char *system, const char *user,
                           char **out) {
    const mot_chat_message m[2] = {{MOT_CHAT_SYSTEM, system}, {MOT_CHAT_USER, user}};
    return system ? mot_chat_render_messages(f, bos, NULL, m, 2, 1, out)
                  : mot_chat_render_messages(f, bos, NULL, m + 1, 1, 1, out);
}

mot_status mot_chat_apply(mot_chat_format f, const char *system, const char *user, char **out) {
    return mot_chat_render(f, NULL, system, user, out);
}
