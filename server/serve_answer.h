/* One request's answer as the model thread gives it, whatever generates the tokens (one
 * model on a slot: serve_model.h; a MoT pipeline: serve_pipeline.h): the ids and head of
 * OpenAI's JSON, the sampled tokens decoded to text and cut at the first stop string, the
 * pieces streamed as SSE events as they come or gathered for one JSON answer, the error as
 * the answer or as a stream's last event.
 *
 *   init -> [fail] | start -> [logprob(token)] push(token) ... -> end(finish, usage) | fail
 *
 * init and fail (before start) need nothing else; start allocates, end and fail free. */
#ifndef MOT_SERVER_SERVE_ANSWER_H
#define MOT_SERVER_SERVE_ANSWER_H

#include "runtime/engine.h"
#include "server/job_queue.h"
#include "server/openai_response.h"
#include "server/stop_strings.h"
#include "tokenizer/decode_stream.h"

typedef struct {
    mot_serve_queue *q;
    mot_serve_job *j;
    char id[48];            /* "cmpl-..." / "chatcmpl-..." */
    mot_oai_head head;
    int started;
    int ok;                 /* every emit succeeded */
    mot_decode_stream dec;  /* the tokens' text (special tokens skipped) */
    mot_stop_strings ss;    /* the text cut at a stop string; a whole answer's text */
    const mot_tokenizer *tok;
    /* log-probabilities, when the request asked for them */
    mot_oai_logprob *lp;    /* [n_lp] one per token pushed */
    int n_lp, cap_lp;
    int lp_sent;            /* of them, those a chunk has carried */
    float *logits;          /* [vocab] the pass's row */
    long long chars;        /* characters of the tokens' texts so far (text_offset) */
} mot_serve_answer;

/* serial: the server's count of answers, for a unique id. 0: the client left while the job
 * waited (logged, the job finished): nothing to run. */
int mot_serve_answer_init(mot_serve_answer *a, mot_serve_queue *q, mot_serve_job *j, const char *model_id,
                           long long serial);
/* The prompt was taken: a stream begins (status 200, a chat's role chunk); tok decodes what follows. */
void mot_serve_answer_start(mot_serve_answer *a, const mot_tokenizer *tok);
/* Before push: the token's log-probability and the top alternatives from lane's logits of the
 * pass that sampled it (the model's distribution: before temperature, top-k/p and penalties,
 * as vLLM gives them); nothing when the request did not ask for them. */
mot_status mot_serve_answer_logprob(mot_serve_answer *a, mot_engine *e, int lane, int token);
/* A sampled token's text (not EOS: the caller ends there). Afterwards a->ss.stopped: a stop
 * string was met and the answer is complete. */
mot_status mot_serve_answer_push(mot_serve_answer *a, int token);
/* The answer's end: what the decoder and the stop strings held back, the last chunk and the
 * usage (or the whole JSON), the job finished. A failure here is answered as a 500 (as fail)
 * and returned. */
mot_status mot_serve_answer_end(mot_serve_answer *a, const char *finish_reason, const mot_oai_usage *u);
/* The recorded error as the answer (status 400: the request's fault; 500: the server's), or,
 * once a stream has begun, as its last event; logged; the job finished. */
void mot_serve_answer_fail(mot_serve_answer *a, int status);

/* The request's sampling parameters with its seed, or a fresh random one when it gave none. */
mot_sampler_params mot_serve_request_sampler(const mot_oai_request *r);

#endif
