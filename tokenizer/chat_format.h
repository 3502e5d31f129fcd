/* Chat templates: a conversation (an optional system message, then user and assistant turns)
 * written in a model's chat format, as Hugging Face's
 * apply_chat_template(messages, add_generation_prompt=...) renders the model's Jinja
 * template. mot does not run Jinja: like llama.cpp's built-in templates, it recognises the
 * format from distinctive substrings of the template text and writes the format itself.
 *
 * Where mot knowingly differs from the Jinja rendering (docs/cli.md, "Chat templates"):
 *   - a default system prompt that a template inserts when none is given (SmolLM2's "You are
 *     a helpful AI assistant named SmolLM, ...", Qwen's) is not added, as in llama.cpp;
 *   - Llama-3.1+'s "Cutting Knowledge Date / Today Date" system preamble is not added;
 *   - templates that reject a system message (Mistral's first one, Gemma 1/2) get it merged
 *     into the user turn instead of an error (as llama.cpp does). */
#ifndef MOT_TOKENIZER_CHAT_FORMAT_H
#define MOT_TOKENIZER_CHAT_FORMAT_H

#include "mot.h"

typedef enum {
    MOT_CHAT_NONE = 0,          /* not a format mot knows */
    MOT_CHAT_CHATML,            /* <|im_start|>role\n...<|im_end|>\n (SmolLM2, Qwen, OpenHermes) */
    MOT_CHAT_LLAMA2,            /* <s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] (Llama-2-chat) */
    MOT_CHAT_LLAMA3,            /* <|begin_of_text|><|start_header_id|>... (Llama-3.x Instruct) */
    MOT_CHAT_MISTRAL,           /* <s>[INST] ... [/INST] (Mistral-7B-Instruct v0.1/v0.2's first
                                 * template, no system role) */
    MOT_CHAT_MISTRAL_V1,        /* <s> [INST] sys\n\nuser [/INST] (mistralai's 'v1') */
    MOT_CHAT_MISTRAL_V3,        /* <s>[INST] sys\n\nuser[/INST] ('v3', Mistral-7B-Instruct-v0.3) */
    MOT_CHAT_MISTRAL_V3_TEKKEN, /* <s>[INST]sys\n\nuser[/INST] ('v3-tekken', Mistral-Nemo) */
    MOT_CHAT_GEMMA,             /* <bos><start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n */
    MOT_CHAT_PHI3,              /* <|user|>\n...<|end|>\n<|assistant|>\n */
    MOT_CHAT_COUNT
} mot_chat_format;

/* The format of a Jinja chat template (tokenizer_config.json's chat_template, a GGUF file's
 * tokenizer.chat_template), recognised by substrings in the order llama.cpp checks them;
 * MOT_CHAT_NONE when it is none of the above (also for look-alikes mot would render wrong:
 * Phi-4's <|im_sep|>, SmolVLM's <end_of_utterance>, Mistral v7's [SYSTEM_PROMPT]). */
mot_chat_format mot_chat_detect(const char *template_text);

/* "chatml", "llama2", "llama3", "mistral", "mistral-v1", "mistral-v3", "mistral-v3-tekken",
 * "gemma", "phi3" (llama.cpp's names) -> the format; MOT_CHAT_NONE for any other. */
mot_chat_format mot_chat_format_from_name(const char *name);
const char *mot_chat_format_name(mot_chat_format f); /* "none" for MOT_CHAT_NONE */
/* The known names, comma-separated, for messages ("chatml, llama2, ..."). */
const char *mot_chat_format_names(void);
/* Whether the format's text begins with the BOS token's text (the template writes
 * {{ bos_token }}): llama2, llama3, the mistral ones and gemma do. */
int mot_chat_format_writes_bos(mot_chat_format f);

typedef enum { MOT_CHAT_SYSTEM, MOT_CHAT_USER, MOT_CHAT_ASSISTANT } mot_chat_role;

typedef struct {
    mot_chat_role role;
    const char *content;
} mot_chat_message;

/* The text of msgs[0..n) in format f: an optional system message first, then user,
 * assistant, user, ... (anything else is an error, as the templates raise one); with the
 * generation prompt (the assistant's header) when add_generation_prompt. bos / eos: the
 * tokenizer's BOS / EOS texts for the templates' {{ bos_token }} / {{ eos_token }} (NULL:
 * the format's usual ones; llama2 and the mistral ones end an assistant turn with EOS).
 * The system message goes where each template puts it: Mistral 'v3' puts it before the
 * last user turn, so an earlier turn's text can change as the conversation grows.
 * *out is malloc'd, the caller frees. */
mot_status mot_chat_render_messages(mot_chat_format f, const char *bos, const char *eos, const mot_chat_message *msgs,
                                    int n, int add_generation_prompt, char **out);

/* The prompt text for [system (when not NULL; "" is an empty system message, as in Jinja),
 * user] with the generation prompt. bos: the tokenizer's BOS text for the formats that write
 * it (NULL: the format's usual one, "<s>", "<|begin_of_text|>" or "<bos>"). *out is
 * malloc'd, the caller frees. Errors: MOT_CHAT_NONE or an unknown format, no memory. */
mot_status mot_chat_render(mot_chat_format f, const char *bos, const char *system, const char *user,
                           char **out);
/* mot_chat_render with the format's usual BOS text. */
mot_status mot_chat_apply(mot_chat_format f, const char *system, const char *user, char **out);

#endif
