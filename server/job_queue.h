/* Requests waiting for the model, and what each answers, between the HTTP connection threads
 * and the one thread that runs the model (the main thread: the engine, OpenMP's thread team
 * and its settings stay on one thread). A job is shared by its connection and the model
 * thread (two references): the model thread appends the answer's bytes as they come (a
 * streamed reply's events) and says when it is done; the connection sends them, or goes away
 * (the client closed it: the job is cancelled and its generation stops at the next token).
 * One mutex guards the queue and every job: a handful of connections at most contend. */
#ifndef MOT_SERVER_JOB_QUEUE_H
#define MOT_SERVER_JOB_QUEUE_H

#include <pthread.h>
#include <sys/types.h>

#include "server/openai_request.h"
#include "tokenizer/tok_buf.h"

typedef struct mot_serve_job {
    mot_oai_request req;
    char route[64];      /* "POST /v1/completions", for the log */
    pthread_cond_t cv;   /* the answer grew, its status was set, or it is done */
    tok_buf out;         /* the answer's bytes: the JSON, or a stream's events */
    size_t out_read;     /* of them, those the connection has sent */
    int status;          /* the HTTP status once known (0: not yet) */
    int done;            /* the model thread is finished with it */
    int cancelled;       /* the connection has gone */
    int refs;
    struct mot_serve_job *next;
} mot_serve_job;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* a job was queued, or the queue stops */
    mot_serve_job *head, *tail;
    int stopping;
} mot_serve_queue;

void mot_serve_queue_init(mot_serve_queue *q);
void mot_serve_queue_destroy(mot_serve_queue *q);
/* A job with two references (the connection's and the model thread's); NULL: no memory. */
mot_serve_job *mot_serve_job_new(void);
/* Queues the job for the model thread; 0 when the queue is stopping (the job is then done
 * with status 503 and the model thread's reference dropped). */
int mot_serve_queue_push(mot_serve_queue *q, mot_serve_job *j);
/* The next job, waiting at most timeout_s; NULL on a timeout or when stopping. */
mot_serve_job *mot_serve_queue_pop(mot_serve_queue *q, double timeout_s);
/* No more jobs: those queued are done with 503, and pop returns NULL from now on. */
void mot_serve_queue_stop(mot_serve_queue *q);

/* The model thread's side. */
void mot_serve_job_set_status(mot_serve_queue *q, mot_serve_job *j, int status);
/* Appends bytes for the client; 0 when out of memory. */
int mot_serve_job_emit(mot_serve_queue *q, mot_serve_job *j, const char *bytes, size_t n);
/* An error answer: with no status set yet, status and body replace what was emitted; after a
 * stream's status, body (an error event) is appended. Either way the job is then done. */
void mot_serve_job_fail(mot_serve_queue *q, mot_serve_job *j, int status, char *body);
void mot_serve_job_finish(mot_serve_queue *q, mot_serve_job *j);
int mot_serve_job_cancelled(mot_serve_queue *q, mot_serve_job *j);

/* The connection's side. */
/* Asked every quarter second while a connection waits: non-zero when its client has gone
 * (the job is then cancelled: skipped if still queued, stopped at the next token if running). */
typedef int (*mot_serve_gone_fn)(void *ctx);
/* Waits until the status is known (or the job is done; until done when `done`); returns the
 * status, or 0 when the client went away first. */
int mot_serve_job_wait(mot_serve_queue *q, mot_serve_job *j, int done, mot_serve_gone_fn gone, void *ctx);
/* Up to max bytes not yet sent, waiting for some; -1 when there are none and the job is done. */
ssize_t mot_serve_job_read(mot_serve_queue *q, mot_serve_job *j, char *buf, size_t max);
/* Drops one reference (the connection's: it marks the job cancelled first). */
void mot_serve_job_release(mot_serve_queue *q, mot_serve_job *j, int connection);

#endif
