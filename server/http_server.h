/* The HTTP side of `mot serve` (libmicrohttpd, a thread per connection): OpenAI's routes,
 * request bodies read and checked, jobs queued for the model thread, answers sent whole or
 * streamed as server-sent events.
 *
 *   GET  /health                       {"status": "ok"} (no API key needed)
 *   GET  /v1/models                    the one model, as OpenAI lists models
 *   POST /v1/completions               a completion (server/openai_request.h)
 *   POST /v1/chat/completions          a chat reply
 * (also without the /v1 prefix, as llama-server answers). A bad request gets OpenAI's error
 * JSON with 400, a wrong API key 401, an unknown path 404, a known path with another method
 * 405 (and Allow), a declared body over the limit 413: all of these from the headers, before
 * the body is read. A body that passes the limit without a declared length closes the
 * connection; a job refused while stopping gets 503. A client that goes away while its
 * request waits or runs cancels it. */
#ifndef MOT_SERVER_HTTP_SERVER_H
#define MOT_SERVER_HTTP_SERVER_H

#include <pthread.h>
#include <stddef.h>

#include "server/job_queue.h"
#include "server/openai_request.h"

#define MOT_HTTP_PARSERS 2               /* request bodies parsed at once */
#define MOT_HTTP_MAX_CONTAINERS 262144   /* JSON objects and arrays in one body */

typedef struct {
    const char *model_id;          /* valid UTF-8 */
    long long created;             /* Unix seconds: the server's start */
    const char *api_key;           /* NULL: none asked */
    mot_oai_defaults completion;   /* what a request leaves out */
    mot_oai_defaults chat;
    size_t max_body;               /* bytes of a request body */
    int timeout_s;                 /* a connection idle this long is closed */
    int max_connections;
} mot_http_config;

typedef struct {
    mot_http_config cfg;
    mot_serve_queue *queue;
    struct MHD_Daemon *daemon;
    int fd;                        /* the listening socket (-1: none) */
    int port;                      /* the port listened on (port 0 asks the system for one) */
    pthread_mutex_t gate_mu;       /* bodies being parsed (at most MOT_HTTP_PARSERS) */
    pthread_cond_t gate_cv;
    int parsing, gate;
    int answering;                 /* completion requests not yet completely sent (gate_mu) */
} mot_http_server;

/* Listens on host:port (a numeric address or a name of this machine; "0.0.0.0" all IPv4
 * interfaces, "::" all IPv6 ones), before the model loads: a port in use is said at once, and
 * clients that connect during the load wait in the backlog. Errors name the address and the
 * system's reason. */
mot_status mot_http_listen(mot_http_server *s, const char *host, int port);
/* Answers requests on the socket listen opened. */
mot_status mot_http_start(mot_http_server *s, const mot_http_config *cfg, mot_serve_queue *q);
/* Stops listening, lets the answers under way finish sending (at most 10 s), then closes
 * every connection (the queue must be stopped first: connections waiting on jobs are then
 * answered). */
void mot_http_stop(mot_http_server *s);

#endif
