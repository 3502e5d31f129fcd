/* A chat conversation with one expert: turn after turn on one engine, its KV cache kept.
 *
 * Each turn renders the whole conversation (system, user, assistant, ..., the new user turn)
 * in the model's chat format and encodes it, as Hugging Face's apply_chat_template does for a
 * chat pipeline; the tokens the cache already holds are reused up to the first that differs
 * (the cache is rewound there) and only the rest is prefilled. What differs is usually just the
 * end of the last reply: the model's EOS is sampled, not fed, and the template closes the
 * turn in its own text (" </s>", "<|im_end|>\n"); a reply's text re-encoded may also split
 * into other tokens than those sampled; Mistral 'v3' moves the system message to the newest
 * user turn. So every turn's prompt is exactly the conversation's tokens, at the cost of
 * re-reading a few of them. */
#ifndef MOT_RUNTIME_CONVERSATION_H
#define MOT_RUNTIME_CONVERSATION_H

#include "runtime/engine.h"
#include "runtime/generate.h"
#include "runtime/slot.h"
#include "tokenizer/chat_format.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const mot_tokenizer *tok;
    mot_chat_format format;
    mot_generate_params params; /* n_predict (!= 0), sampler, backend, on_token per reply */
    mot_slot slot;              /* the engine and the tokens its cache holds: after a turn, its
                                 * prompt (the conversation up to the generation prompt), then
                                 * the answer's fed tokens */
    mot_chat_message *msgs;     /* contents owned */
    int n_msgs, cap_msgs;
} mot_conversation;

typedef struct {
    int n_reused;              /* of the prompt's reply.n_prompt tokens, those the cache held */
    mot_generate_result reply; /* n_prompt; its sampled tokens (EOS included when it ended one) */
} mot_conversation_turn;

/* Opens the engine (the backend, its arena: the KV cache for n_ctx positions). system: the
 * system message (NULL: none). params->n_predict must not be 0. On an error, close it. */
mot_status mot_conversation_open(mot_conversation *c, const mot_expert *ex, const mot_tokenizer *tok,
                                 mot_chat_format format, const char *system, int n_ctx, int max_batch,
                                 const mot_generate_params *params);
/* One user turn: its reply is generated (on_token streams it) and added to the conversation.
 * A conversation that no longer fits the context is an error naming both sizes; the
 * conversation is then as before the turn. *t starts zeroed; its reply is freed by the next
 * turn or by mot_conversation_turn_free. */
mot_status mot_conversation_say(mot_conversation *c, const char *user, mot_conversation_turn *t);
void mot_conversation_turn_free(mot_conversation_turn *t);
void mot_conversation_close(mot_conversation *c);

#endif
