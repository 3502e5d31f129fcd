/* OpenAI's routes over libmicrohttpd (http_server.h). */
#include "server/http_server.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "server/openai_response.h"

/* One request's state across the handler's calls (the body arrives in pieces). */
typedef struct {
    tok_buf body;
    int route;     /* index into routes[] */
    int answered;  /* a response is queued already (an error found from the headers) */
    int answering; /* counted in the server's `answering` until it completes */
} request_state;

static const char out_of_memory_json[] =
    "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":500}}";

/* Queues body (malloc'd, taken; NULL: out of memory, answered 500) with status. */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, char *body, const char *allow) {
    struct MHD_Response *r = body ? MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE)
                                  : MHD_create_response_from_buffer(sizeof out_of_memory_json - 1,
                                                                    (void *)out_of_memory_json, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    const enum MHD_Result ok = MHD_queue_response(c, body ? status : 500, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, const char *route, unsigned status, const char *message,
                                  const char *param, const char *allow) {
    fprintf(stderr, "mot: %s %u: %s\n", route, status, message);
    return send_json(c, status, mot_oai_error_json((int)status, message, param), allow);
}

/* Authorization: Bearer KEY, compared in constant time. */
static int authorized(const mot_http_server *s, struct MHD_Connection *c) {
    if (!s->cfg.api_key) {
        return 1;
    }
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncmp(h, "Bearer ", 7) != 0) {
        return 0;
    }
    const char *k = h + 7, *want = s->cfg.api_key;
    const size_t n = strlen(k), m = strlen(want);
    unsigned char diff = n != m;
    for (size_t i = 0; i < m; i++) {
        diff |= (unsigned char)(want[i] ^ (i < n ? k[i] : 0));
    }
    return diff == 0;
}

/* Objects and arrays in a JSON text, strings skipped: what parsing it will allocate nodes for
 * (jansson takes ~80 bytes a node: 8 MiB of "[{},{},..." would take 600 MB). */
static size_t json_containers(const char *t, size_t n) {
    size_t count = 0;
    int in_string = 0;
    for (size_t i = 0; i < n; i++) {
        const char ch = t[i];
        if (in_string) {
            if (ch == '\\') i++;
            else if (ch == '"') in_string = 0;
        } else if (ch == '"') {
            in_string = 1;
        } else if (ch == '{' || ch == '[') {
            count++;
        }
    }
    return count;
}

/* At most MOT_HTTP_PARSERS bodies are parsed at once: parsing takes memory several times a
 * body's size, and up to max_connections requests may arrive together. */
static void gate_enter(mot_http_server *s) {
    pthread_mutex_lock(&s->gate_mu);
    while (s->parsing >= MOT_HTTP_PARSERS) {
        pthread_cond_wait(&s->gate_cv, &s->gate_mu);
    }
    s->parsing++;
    pthread_mutex_unlock(&s->gate_mu);
}

static void gate_leave(mot_http_server *s) {
    pthread_mutex_lock(&s->gate_mu);
    s->parsing--;
    pthread_cond_signal(&s->gate_cv);
    pthread_mutex_unlock(&s->gate_mu);
}

/* Whether the connection's peer has closed it (or it broke): asked while its request waits. */
static int client_gone(void *ctx) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(ctx, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) {
        return 0;
    }
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

typedef struct {
    mot_serve_queue *q;
    mot_serve_job *job;
} stream_state;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    stream_state *ss = cls;
    const ssize_t n = mot_serve_job_read(ss->q, ss->job, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

/* The response is gone (sent, or the client closed the connection): the job is cancelled if
 * still running. */
static void stream_free(void *cls) {
    stream_state *ss = cls;
    mot_serve_job_release(ss->q, ss->job, 1);
    free(ss);
}

/* The routes: path, method, and what answers. */
typedef enum { ROUTE_HEALTH, ROUTE_MODELS, ROUTE_COMPLETIONS, ROUTE_CHAT } route_kind;
static const struct {
    const char *path, *method;
    route_kind kind;
} routes[] = {
    {"/health", "GET", ROUTE_HEALTH},
    {"/v1/health", "GET", ROUTE_HEALTH},
    {"/v1/models", "GET", ROUTE_MODELS},
    {"/models", "GET", ROUTE_MODELS},
    {"/v1/completions", "POST", ROUTE_COMPLETIONS},
    {"/completions", "POST", ROUTE_COMPLETIONS},
    {"/v1/chat/completions", "POST", ROUTE_CHAT},
    {"/chat/completions", "POST", ROUTE_CHAT},
};

/* A completion or chat request: parsed here (a bad one answered at once), run by the model
 * thread, answered whole or streamed. */
static enum MHD_Result generate(mot_http_server *s, struct MHD_Connection *c, const char *route, mot_oai_kind kind,
                                request_state *rs) {
    mot_serve_job *j = mot_serve_job_new();
    if (!j) {
        return send_json(c, 500, NULL, NULL);
    }
    pthread_mutex_lock(&s->gate_mu);
    s->answering++;
    rs->answering = 1;
    pthread_mutex_unlock(&s->gate_mu);
    snprintf(j->route, sizeof j->route, "%s", route);
    const mot_oai_defaults *d = kind == MOT_OAI_CHAT ? &s->cfg.chat : &s->cfg.completion;
    const char *body = rs->body.data ? rs->body.data : "";
    const size_t containers = json_containers(body, rs->body.len);
    if (containers > MOT_HTTP_MAX_CONTAINERS) {
        mot_serve_job_release(s->queue, j, 1);
        mot_serve_job_release(s->queue, j, 0);
        char msg[128];
        snprintf(msg, sizeof msg, "the request body holds %zu JSON objects and arrays, at most %d", containers,
                 MOT_HTTP_MAX_CONTAINERS);
        return send_error(c, route, 400, msg, NULL, NULL);
    }
    gate_enter(s);
    const mot_status pst = mot_oai_request_parse(body, rs->body.len, kind, d, &j->req);
    gate_leave(s);
    tok_buf_free(&rs->body); /* parsed: the text is in the request now */
    if (pst != MOT_OK) {
        char param[sizeof j->req.param];
        memcpy(param, j->req.param, sizeof param);
        mot_serve_job_release(s->queue, j, 1);
        mot_serve_job_release(s->queue, j, 0);
        return send_error(c, route, 400, mot_last_error(), param, NULL);
    }
    mot_serve_queue_push(s->queue, j);
    int status = mot_serve_job_wait(s->queue, j, 0, client_gone, c);
    if (status != 0 && (status != 200 || !j->req.stream)) {
        status = mot_serve_job_wait(s->queue, j, 1, client_gone, c);
    }
    if (status == 0) { /* the client left while its request waited or ran: cancelled */
        fprintf(stderr, "mot: %s: the client left before its answer\n", route);
        mot_serve_job_release(s->queue, j, 1);
        return MHD_NO;
    }
    if (status != 200 || !j->req.stream) {
        /* done: the model thread no longer writes the answer */
        struct MHD_Response *r =
            MHD_create_response_from_buffer(j->out.len, j->out.data ? j->out.data : (void *)"", MHD_RESPMEM_MUST_COPY);
        mot_serve_job_release(s->queue, j, 1);
        if (!r) {
            return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        const enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
        MHD_destroy_response(r);
        return ok;
    }
    stream_state *ss = malloc(sizeof *ss);
    struct MHD_Response *r =
        ss ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, ss, stream_free) : NULL;
    if (!r) {
        free(ss);
        mot_serve_job_release(s->queue, j, 1);
        return MHD_NO;
    }
    *ss = (stream_state){s->queue, j}; /* the connection's reference goes with the response */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    const enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    mot_http_server *s = cls;
    request_state *rs = *con_cls;
    char route[64];
    snprintf(route, sizeof route, "%.8s %.48s", method, url);
    if (!rs) { /* the headers are in: the route, the key and the body's size are checked now,
                * before any of the body is read */
        if (!(rs = calloc(1, sizeof *rs))) {
            return MHD_NO;
        }
        *con_cls = rs;
        rs->route = -1;
        int path_known = 0;
        const char *allow = NULL;
        for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
            if (!strcmp(url, routes[i].path)) {
                path_known = 1;
                allow = routes[i].method;
                if (!strcmp(method, routes[i].method) ||
                    (!strcmp(method, "HEAD") && !strcmp(routes[i].method, "GET"))) {
                    rs->route = (int)i;
                }
            }
        }
        rs->answered = 1;
        if (!path_known) {
            return send_error(c, route, 404, "no such route (POST /v1/completions, POST /v1/chat/completions, GET "
                                             "/v1/models, GET /health)", NULL, NULL);
        }
        if (rs->route < 0) {
            char msg[64];
            snprintf(msg, sizeof msg, "this route takes %s", allow);
            return send_error(c, route, 405, msg, NULL, allow);
        }
        if (routes[rs->route].kind != ROUTE_HEALTH && !authorized(s, c)) {
            return send_error(c, route, 401, "a wrong or missing API key (Authorization: Bearer KEY)", NULL, NULL);
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body) {
            char msg[128];
            snprintf(msg, sizeof msg, "the request body is %.24s bytes, at most %zu", cl, s->cfg.max_body);
            return send_error(c, route, 413, msg, NULL, NULL);
        }
        rs->answered = 0;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        if (rs->answered) { /* refused from its headers: the rest is not kept */
            *upload_size = 0;
            return MHD_YES;
        }
        if (rs->body.len + *upload_size > s->cfg.max_body) {
            /* no size declared (chunked), now past the limit: a response cannot be queued during
             * an upload, so the connection is closed rather than read to its end */
            fprintf(stderr, "mot: %s: the request body is over %zu bytes: connection closed\n", route,
                    s->cfg.max_body);
            return MHD_NO;
        }
        if (tok_buf_append(&rs->body, upload, *upload_size) != MOT_OK) {
            return MHD_NO;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rs->answered) {
        return MHD_YES;
    }
    switch (routes[rs->route].kind) {
    case ROUTE_HEALTH: return send_json(c, 200, strdup("{\"status\":\"ok\"}"), NULL);
    case ROUTE_MODELS: return send_json(c, 200, mot_oai_models_json(s->cfg.model_id, s->cfg.created), NULL);
    case ROUTE_COMPLETIONS: return generate(s, c, route, MOT_OAI_COMPLETION, rs);
    default: return generate(s, c, route, MOT_OAI_CHAT, rs);
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    mot_http_server *s = cls;
    request_state *rs = *con_cls;
    if (rs && rs->answering) {
        pthread_mutex_lock(&s->gate_mu);
        s->answering--;
        pthread_mutex_unlock(&s->gate_mu);
    }
    if (rs) {
        tok_buf_free(&rs->body);
        free(rs);
        *con_cls = NULL;
    }
}

/* A listening socket on host:port; its port into *bound. */
static mot_status listen_on(const char *host, int port, int *fd_out, int *bound) {
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
    const int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        return mot_fail(MOT_ERR_ARG, "--host %s: %s", host, gai_strerror(gai));
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    const int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        const int err = errno;
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return mot_fail(MOT_ERR_IO, "--host %s --port %d: cannot listen: %s", host, port, strerror(err));
    }
    freeaddrinfo(res);
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *bound = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                      : ntohs(((struct sockaddr_in *)&sa)->sin_port);
    *fd_out = fd;
    return MOT_OK;
}

mot_status mot_http_listen(mot_http_server *s, const char *host, int port) {
    memset(s, 0, sizeof *s);
    s->fd = -1;
    return listen_on(host, port, &s->fd, &s->port);
}

mot_status mot_http_start(mot_http_server *s, const mot_http_config *cfg, mot_serve_queue *q) {
    s->cfg = *cfg, s->queue = q;
    pthread_mutex_init(&s->gate_mu, NULL);
    pthread_cond_init(&s->gate_cv, NULL);
    s->gate = 1;
    s->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                                     MHD_USE_ITC, 0,
                                 NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, s->fd,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_s,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->daemon) {
        return mot_fail(MOT_ERR_IO, "port %d: libmicrohttpd could not start", s->port);
    }
    s->fd = -1; /* the daemon's now: it closes it */
    return MOT_OK;
}

void mot_http_stop(mot_http_server *s) {
    if (s->daemon) { /* no new connections; the answers under way go out whole */
        const MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        if (fd != MHD_INVALID_SOCKET) close(fd);
        for (int waited = 0; waited < 1000; waited++) {
            pthread_mutex_lock(&s->gate_mu);
            const int busy = s->answering;
            pthread_mutex_unlock(&s->gate_mu);
            if (!busy) break;
            usleep(10000);
        }
    }
    if (s->daemon) {
        MHD_stop_daemon(s->daemon); /* closes the listening socket too */
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    if (s->gate) {
        pthread_cond_destroy(&s->gate_cv);
        pthread_mutex_destroy(&s->gate_mu);
    }
    s->daemon = NULL, s->fd = -1, s->gate = 0;
}
