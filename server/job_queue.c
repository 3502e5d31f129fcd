/* The queue between the connections and the model thread (job_queue.h). */
#include "server/job_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void mot_serve_queue_init(mot_serve_queue *q) {
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* pop's timeout */
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
}

void mot_serve_queue_destroy(mot_serve_queue *q) {
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
}

mot_serve_job *mot_serve_job_new(void) {
    mot_serve_job *j = calloc(1, sizeof *j);
    if (j) {
        pthread_cond_init(&j->cv, NULL);
        j->refs = 2;
    }
    return j;
}

static void job_free(mot_serve_job *j) {
    mot_oai_request_free(&j->req);
    tok_buf_free(&j->out);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* Under the lock: drops a reference. */
static void unref(mot_serve_job *j) {
    if (--j->refs == 0) {
        job_free(j);
    }
}

static const char shutting_down[] =
    "{\"error\":{\"message\":\"the server is shutting down\",\"type\":\"server_error\",\"param\":null,\"code\":503}}";

/* Under the lock: a queued job the model thread will not run. */
static void refuse(mot_serve_job *j) {
    j->out.len = 0;
    tok_buf_append(&j->out, shutting_down, sizeof shutting_down - 1);
    j->status = 503;
    j->done = 1;
    pthread_cond_broadcast(&j->cv);
    unref(j);
}

int mot_serve_queue_push(mot_serve_queue *q, mot_serve_job *j) {
    pthread_mutex_lock(&q->mu);
    const int ok = !q->stopping;
    if (ok) {
        j->next = NULL;
        if (q->tail) q->tail->next = j;
        else q->head = j;
        q->tail = j;
        pthread_cond_signal(&q->cv);
    } else {
        refuse(j);
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

mot_serve_job *mot_serve_queue_pop(mot_serve_queue *q, double timeout_s) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)timeout_s;
    until.tv_nsec += (long)((timeout_s - (double)(time_t)timeout_s) * 1e9);
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&q->mu);
    while (!q->head && !q->stopping) {
        if (pthread_cond_timedwait(&q->cv, &q->mu, &until) == ETIMEDOUT) {
            break;
        }
    }
    mot_serve_job *j = q->stopping ? NULL : q->head;
    if (j) {
        q->head = j->next;
        if (!q->head) q->tail = NULL;
        j->next = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    return j;
}

void mot_serve_queue_stop(mot_serve_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    while (q->head) {
        mot_serve_job *j = q->head;
        q->head = j->next;
        refuse(j);
    }
    q->tail = NULL;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void mot_serve_job_set_status(mot_serve_queue *q, mot_serve_job *j, int status) {
    pthread_mutex_lock(&q->mu);
    j->status = status;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&q->mu);
}

int mot_serve_job_emit(mot_serve_queue *q, mot_serve_job *j, const char *bytes, size_t n) {
    pthread_mutex_lock(&q->mu);
    const int ok = tok_buf_append(&j->out, bytes, n) == MOT_OK;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&q->mu);
    return ok;
}

void mot_serve_job_fail(mot_serve_queue *q, mot_serve_job *j, int status, char *body) {
    pthread_mutex_lock(&q->mu);
    if (!j->status) {
        j->status = status;
        j->out.len = 0;
    }
    if (body) tok_buf_append(&j->out, body, strlen(body)); /* a stream's error event, or the error */
    j->done = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&q->mu);
    free(body);
}

void mot_serve_job_finish(mot_serve_queue *q, mot_serve_job *j) {
    pthread_mutex_lock(&q->mu);
    j->done = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&q->mu);
}

int mot_serve_job_cancelled(mot_serve_queue *q, mot_serve_job *j) {
    pthread_mutex_lock(&q->mu);
    const int c = j->cancelled;
    pthread_mutex_unlock(&q->mu);
    return c;
}

int mot_serve_job_wait(mot_serve_queue *q, mot_serve_job *j, int done, mot_serve_gone_fn gone, void *ctx) {
    pthread_mutex_lock(&q->mu);
    while (!j->done && (done || !j->status)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until); /* the job's condition uses the default clock */
        until.tv_nsec += 250000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        if (pthread_cond_timedwait(&j->cv, &q->mu, &until) == ETIMEDOUT && gone) {
            pthread_mutex_unlock(&q->mu); /* the check is a system call: not under the lock */
            const int left = gone(ctx);
            pthread_mutex_lock(&q->mu);
            if (left) {
                j->cancelled = 1;
                pthread_mutex_unlock(&q->mu);
                return 0;
            }
        }
    }
    const int s = j->status ? j->status : 500;
    pthread_mutex_unlock(&q->mu);
    return s;
}

ssize_t mot_serve_job_read(mot_serve_queue *q, mot_serve_job *j, char *buf, size_t max) {
    pthread_mutex_lock(&q->mu);
    while (j->out_read == j->out.len && !j->done) {
        pthread_cond_wait(&j->cv, &q->mu);
    }
    ssize_t n = -1;
    if (j->out_read < j->out.len) {
        const size_t avail = j->out.len - j->out_read;
        n = (ssize_t)(avail < max ? avail : max);
        memcpy(buf, j->out.data + j->out_read, (size_t)n);
        j->out_read += (size_t)n;
        if (j->out_read == j->out.len) { /* all sent: a long stream's events need not pile up */
            j->out_read = j->out.len = 0;
        }
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

void mot_serve_job_release(mot_serve_queue *q, mot_serve_job *j, int connection) {
    pthread_mutex_lock(&q->mu);
    if (connection) j->cancelled = 1;
    unref(j);
    pthread_mutex_unlock(&q->mu);
}
