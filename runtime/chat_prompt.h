/* A chat prompt in a model's tokens: its chat format resolved (the model's template, or a
 * name that forces one), the turn rendered with the tokenizer's BOS text, then encoded.
 *
 * BOS, decided as llama.cpp decides it: the rendered text is encoded with special tokens
 * parsed (so a template's "<s>" / "<|begin_of_text|>" text becomes the BOS id), then the
 * tokenizer's own prefix (BOS when it adds one) is put in front unless the text already
 * starts with it. So the prompt starts with exactly one BOS when either the template writes
 * it or the tokenizer adds it, never two; no EOS is ever appended (the text ends with the
 * generation prompt). Hugging Face's apply_chat_template(tokenize=True) gives the same ids
 * whenever the template writes BOS exactly when the tokenizer adds it (Llama-2/3, Mistral,
 * Gemma, SmolLM2's ChatML), and no BOS where a ChatML template meets a tokenizer that adds
 * one (llama.cpp and mot add it). */
#ifndef MOT_RUNTIME_CHAT_PROMPT_H
#define MOT_RUNTIME_CHAT_PROMPT_H

#include "tokenizer/chat_format.h"
#include "tokenizer/tokenizer.h"

/* The format for a model: forced by name (not NULL: must be a known name), else detected
 * from the tokenizer's chat template. Errors name `source` (the model folder) and say what
 * to do: "M: the model has no chat template (force one with --chat-template NAME: chatml,
 * ...)", "M: its chat template is not one mot knows (...)". `how` is the flag or key that
 * forces a name, for those messages ("--chat-template", "chat_template"). */
mot_status mot_chat_resolve(const mot_tokenizer *tok, const char *forced_name, const char *source, const char *how,
                            mot_chat_format *out);

/* Renders [system, user] in format f with tok's BOS text and encodes it (the rule above).
 * *ids is malloc'd, the caller frees. */
mot_status mot_chat_encode(const mot_tokenizer *tok, mot_chat_format f, const char *system, const char *user,
                           int **ids, int *n_ids);

/* The same for a whole conversation (tokenizer/chat_format.h: an optional system message,
 * then user, assistant, ..., ending with a user turn), with the generation prompt; the
 * templates' EOS text (after an assistant turn) is the tokenizer's. */
mot_status mot_chat_encode_messages(const mot_tokenizer *tok, mot_chat_format f, const mot_chat_message *msgs, int n,
                                    int **ids, int *n_ids);

#endif
