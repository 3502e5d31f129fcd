/* An expert's prompt in its own tokens: its chat format when it has one, else its pipeline
 * template with {prompt} replaced, encoded with BOS as its tokenizer adds it (SPEC 1.5).
 * Generation and training (SPEC 5) build the same ids through this one function. */
#ifndef MOT_RUNTIME_EXPERT_PROMPT_H
#define MOT_RUNTIME_EXPERT_PROMPT_H

#include "runtime/mot_model.h"

/* ids: malloc'd [*n]; system: the chat system turn or NULL. */
mot_status mot_expert_prompt_tokens(const mot_model *m, int expert, const char *prompt, const char *system,
                                    int **ids, int *n);

#endif
