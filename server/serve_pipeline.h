/* The model thread of `mot serve PIPELINE.yaml`: each request answered by MoT (SPEC 1.5), as
 * `mot run PIPELINE.yaml` answers a prompt. The request is routed (the router reads the
 * completion's prompt, or a chat's last user message), each active expert gets the prompt in
 * its own tokens (a chat's whole conversation in its chat format when its entry turns chat on,
 * else its template with the last user message), and the routed set runs with the interaction
 * layers; the primary's tokens are the answer, which names the routed experts ("experts",
 * primary first). Each request opens its own engine, sized for its prompts and max_tokens
 * (no limit: up to the smallest context of the routed experts); no cache is kept between
 * requests, since the next request may route elsewhere. Token-id prompts are refused: the
 * experts do not share a vocabulary. */
#ifndef MOT_SERVER_SERVE_PIPELINE_H
#define MOT_SERVER_SERVE_PIPELINE_H

#include "executor/backend.h"
#include "runtime/mot_model.h"
#include "server/job_queue.h"

typedef struct {
    const mot_model *m;
    mot_backend_options backend; /* the schedule the pipeline names, the flags over it */
    const char *model_id;
    long long served;            /* jobs run, for their ids */
    volatile const int *stop;    /* non-zero: the server is stopping (serve_model.h) */
} mot_serve_pipeline;

/* Runs one job to its end: the answer emitted into it, then done. A job whose client left
 * while it was queued is not run. */
void mot_serve_pipeline_run(mot_serve_pipeline *p, mot_serve_queue *q, mot_serve_job *j);

#endif
