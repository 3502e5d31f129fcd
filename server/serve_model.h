/* The model thread of `mot serve`: each job's prompt (the completion's text or ids, the
 * chat's messages in the model's chat template) on one slot (runtime/slot.h: the cache's
 * common prefix reused from request to request, as llama-server's slot does), its own
 * sampling parameters and seed, generated until EOS, max_tokens, a stop string or the
 * context's end, and answered as OpenAI answers (server/openai_response.h). */
#ifndef MOT_SERVER_SERVE_MODEL_H
#define MOT_SERVER_SERVE_MODEL_H

#include "runtime/slot.h"
#include "server/job_queue.h"
#include "tokenizer/chat_format.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const mot_expert *ex;
    const mot_tokenizer *tok;
    mot_chat_format chat;      /* MOT_CHAT_NONE: chat requests are refused */
    const char *chat_missing;  /* then why ("the model has no chat template ...") */
    const char *model_id;
    mot_slot slot;
    long long served;          /* jobs run, for their ids */
    volatile const int *stop;  /* non-zero: the server is stopping (the running answer ends at
                                * its next token, as if at max_tokens); NULL: never */
} mot_serve_model;

/* Runs one job to its end: the answer emitted into it, then done. A job whose client left
 * while it was queued is not run. */
void mot_serve_model_run(mot_serve_model *m, mot_serve_queue *q, mot_serve_job *j);

#endif
