/* An expert's prompt in its own tokens: its chat format when it has one, else its pipeline
 * template with {prompt} replaced, encoded with BOS as its tokenizer adds it (SPEC 1.5).
 * Generation and training (SPEC 5) build the same ids through this one function. */
#ifndef MOT_RUNTIME_EXPERT_PROMPT_H
#define MOT_RUNTIME_EXPERT_PROMPT_H

#include "runtime/mot_model.h"
#include "tokenizer/chat_format.h"

/* ids: malloc'd [*n]; system: the chat system turn or NULL. */
mot_status mot_expert_prompt_tokens(const mot_model *m, int expert, const char *prompt, const char *system,
                                    int **ids, int *n);

/* The last user message of a conversation (what the router reads and what an expert without
 * chat is given in its template); NULL when there is none. */
const char *mot_last_user_message(const mot_chat_message *msgs, int n);
/* A whole conversation (chat_format.h's order, ending with a user turn) as an expert's prompt:
 * an expert with chat renders every turn in its format; one without chat has no notion of
 * turns and gets its template with the last user message. */
mot_status mot_expert_prompt_messages(const mot_model *m, int expert, const mot_chat_message *msgs, int n_msgs,
                                      int **ids, int *n);

#endif
