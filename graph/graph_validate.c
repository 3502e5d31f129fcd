/* The topology rules of a hand-written graph (docs/pipeline.md, "The node and port
 * vocabulary"): what the scheduler's lowering (scheduler/plan_compile.c) can run for every
 * routed set, checked once at load so a bad edit is refused at its FILE:LINE:COL instead of
 * failing when some route first compiles. The rules follow from the runtime's buffers:
 *   - an expert's hidden state is one buffer per lane, so its router -> stack -> ... -> sampler
 *     nodes form a chain: each reads the expert's latest hidden state, layers without gaps;
 *   - a cross-attention's keys and values are the latent caches of the active experts it lists
 *     in `inputs` (the speakers), its queries are those of the expert routed at its `query`
 *     rank (0, the default: the primary): every expert feeds every attention it has, as a
 *     speaker or (`listeners`) as a query only, and at least one speaks; the attentions at one
 *     stack have distinct query ranks;
 *   - the route is known only after routing, so a reverse projector that reads attentions (of
 *     its own stack) also reads its own forward projector: it reads the attention whose query
 *     rank is its expert's rank in the route, else its own z; an attention of query rank > 0
 *     that no reverse projector reads is refused (it would run for nothing). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "graph/graph_nodes.h"
#include "ops/step_state.h"

static mot_status fail_at(const mot_pipeline *p, mot_src_pos at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static mot_status fail_at(const mot_pipeline *p, mot_src_pos at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mot_status st = mot_vfail_at(p->file, at.line, at.col, fmt, ap);
    va_end(ap);
    return st;
}

static int is(const mot_graph_node *n, const char *kind) { return !strcmp(n->kind, kind); }
static int gives_hidden(const mot_graph_node *n) { return is(n, "stack") || (is(n, "projector") && n->reverse); }

/* What a node's output port carries, for "wrong shape" messages. */
static const char *shape(const mot_pipeline *p, const mot_graph_node *n, char *buf, size_t size) {
    const char *e = n->expert >= 0 ? p->experts[n->expert].name : "";
    if (is(n, "router")) snprintf(buf, size, "the routing decision");
    else if (gives_hidden(n)) snprintf(buf, size, "%s's hidden state", e);
    else if (is(n, "projector")) snprintf(buf, size, "%s's latent at stack %d", e, n->stack);
    else if (is(n, "attention")) snprintf(buf, size, "the cross-attention output at stack %d", n->stack);
    else snprintf(buf, size, "%s's tokens", e);
    return buf;
}

/* Does `from` reach `to` through inputs (to < from: a later node read early)? Iterative: a
 * chain of 50k nodes would overflow the C stack. seen and todo: [n_nodes]. */
static int reaches(const mot_graph *g, int from, int to, char *seen, int *todo) {
    int n = 0;
    todo[n++] = from;
    seen[from] = 1;
    while (n > 0) {
        const int i = todo[--n];
        if (i == to) return 1;
        const int *in = mot_graph_node_inputs(&g->nodes[i]);
        for (int k = 0; k < g->nodes[i].n_inputs; k++) {
            if (!seen[in[k]]) {
                seen[in[k]] = 1;
                todo[n++] = in[k];
            }
        }
    }
    return 0;
}

/* Graph order is execution order: every input comes first. A later input is a cycle when it
 * (through its own inputs) reads this node, else a forward reference. */
static mot_status check_order(const mot_pipeline *p, const mot_graph *g) {
    char *seen = calloc((size_t)g->n_nodes + 1, 1);
    int *todo = malloc(sizeof *todo * ((size_t)g->n_nodes + 1));
    if (!seen || !todo) {
        free(seen), free(todo);
        return mot_fail(MOT_ERR_NOMEM, "graph: out of memory");
    }
    mot_status st = MOT_OK;
    for (int i = 0; i < g->n_nodes && st == MOT_OK; i++) {
        const mot_graph_node *n = &g->nodes[i];
        const int *in = mot_graph_node_inputs(n);
        for (int k = 0; k < n->n_inputs && st == MOT_OK; k++) {
            if (in[k] < i) continue;
            memset(seen, 0, (size_t)g->n_nodes);
            if (reaches(g, in[k], i, seen, todo)) {
                st = fail_at(p, n->input_pos[k], "graph[%d] (%s): inputs: '%s' %s (a cycle)", i, n->id,
                             g->nodes[in[k]].id, in[k] == i ? "is this node" : "reads this node");
            } else {
                st = fail_at(p, n->input_pos[k],
                             "graph[%d] (%s): inputs: '%s' comes later, at graph[%d] (nodes are listed in "
                             "execution order: an input comes first)", i, n->id, g->nodes[in[k]].id, in[k]);
            }
        }
    }
    free(seen), free(todo);
    return st;
}

typedef struct {
    const mot_pipeline *p;
    const mot_graph *g;
    int *cur;       /* [M] the node holding the expert's latest hidden state, -1: the router */
    int *next;      /* [M] the expert's next layer */
    int *sampler;   /* [M] its sampler, -1 */
    int *last;      /* [M] its last node, -1 */
    int *fwd, *rev; /* [M*Q] its projectors, -1 */
    int *att;       /* [Q * MOT_MAX_LANES] the attention node of (stack, query rank), -1 */
    char *read;     /* [n_nodes] an attention some reverse projector reads */
    int router;
} walk;

static mot_status wrong_count(const walk *w, int i, const char *wants) {
    const mot_graph_node *n = &w->g->nodes[i];
    return fail_at(w->p, n->pos, "graph[%d] (%s): a %s reads %s, found %d input%s", i, n->id, n->kind, wants,
                   n->n_inputs, n->n_inputs == 1 ? "" : "s");
}

/* Input k of node i must be the expert's latest hidden state (or the router before its first stack). */
static mot_status check_hidden_input(const walk *w, int i, int k) {
    const mot_graph_node *n = &w->g->nodes[i];
    const int j = mot_graph_node_inputs(n)[k], e = n->expert;
    const mot_graph_node *src = &w->g->nodes[j];
    const char *name = w->p->experts[e].name;
    char buf[160];
    if (w->cur[e] < 0) {
        if (is(n, "stack") && is(src, "router")) return MOT_OK;
        if (is(n, "stack")) {
            return fail_at(w->p, n->input_pos[k],
                           "graph[%d] (%s): inputs: '%s' gives %s, but %s's first stack reads the router (it "
                           "embeds the tokens)", i, n->id, src->id, shape(w->p, src, buf, sizeof buf), name);
        }
        return fail_at(w->p, n->input_pos[k],
                       "graph[%d] (%s): inputs: a %s reads %s's hidden state, but no stack of %s comes before it "
                       "('%s' gives %s)", i, n->id, n->kind, name, name, src->id, shape(w->p, src, buf, sizeof buf));
    }
    if (j == w->cur[e]) return MOT_OK;
    if (gives_hidden(src) && src->expert == e) {
        return fail_at(w->p, n->input_pos[k],
                       "graph[%d] (%s): inputs: '%s' is not %s's latest hidden state ('%s'): an expert's hidden "
                       "state is one buffer, so its nodes form a chain", i, n->id, src->id, name,
                       w->g->nodes[w->cur[e]].id);
    }
    return fail_at(w->p, n->input_pos[k], "graph[%d] (%s): inputs: a port of the wrong shape: a %s reads %s's hidden "
                   "state, '%s' gives %s", i, n->id, n->kind, name, src->id, shape(w->p, src, buf, sizeof buf));
}

static mot_status check_stack(walk *w, int i) {
    const mot_graph_node *n = &w->g->nodes[i];
    if (n->n_inputs != 1) return wrong_count(w, i, "one input");
    MOT_TRY(check_hidden_input(w, i, 0));
    const int e = n->expert;
    if (n->first_layer != w->next[e]) {
        return fail_at(w->p, n->layers_pos, "graph[%d] (%s): layers: expected to start at layer %d (%s), found [%d, %d]",
                       i, n->id, w->next[e], w->next[e] ? "the layer after the expert's previous stack" :
                       "an expert's first stack", n->first_layer, n->last_layer);
    }
    w->next[e] = n->last_layer + 1;
    w->cur[e] = i;
    return MOT_OK;
}

static mot_status check_forward(walk *w, int i) {
    const mot_graph_node *n = &w->g->nodes[i];
    const int slot = n->expert * w->p->interaction.stacks + n->stack;
    if (n->n_inputs != 1) return wrong_count(w, i, "one input");
    if (w->fwd[slot] >= 0) {
        return fail_at(w->p, n->pos, "graph[%d] (%s): a second forward projector of %s at stack %d (the first is '%s')",
                       i, n->id, w->p->experts[n->expert].name, n->stack, w->g->nodes[w->fwd[slot]].id);
    }
    MOT_TRY(check_hidden_input(w, i, 0));
    w->fwd[slot] = i;
    return MOT_OK;
}

static mot_status check_attention(walk *w, int i) {
    const mot_graph_node *n = &w->g->nodes[i];
    const int M = w->p->n_experts, q = n->stack, speakers = n->n_inputs - n->n_listeners;
    const int *in = mot_graph_node_inputs(n);
    char buf[160];
    if (n->n_inputs == 0) {
        return fail_at(w->p, n->pos, "graph[%d] (%s): an attention reads the forward projectors of its stack, found "
                       "no inputs", i, n->id);
    }
    const int slot = q * MOT_MAX_LANES + n->query;
    if (w->att[slot] >= 0) {
        if (!n->query_pos.line && !w->g->nodes[w->att[slot]].query_pos.line) {
            return fail_at(w->p, n->pos, "graph[%d] (%s): a second attention at stack %d (the first is '%s')", i, n->id,
                           q, w->g->nodes[w->att[slot]].id);
        }
        return fail_at(w->p, n->query_pos.line ? n->query_pos : n->pos,
                       "graph[%d] (%s): a second attention at stack %d with query %d (the first is '%s'): the "
                       "attentions at one stack query for distinct route ranks", i, n->id, q, n->query,
                       w->g->nodes[w->att[slot]].id);
    }
    int *from = calloc((size_t)M, sizeof *from); /* 0, or 1 + the input's index */
    if (!from) return mot_fail(MOT_ERR_NOMEM, "graph: out of memory");
    mot_status st = MOT_OK;
    for (int k = 0; k < n->n_inputs && st == MOT_OK; k++) {
        const mot_graph_node *src = &w->g->nodes[in[k]];
        const char *key = k < speakers ? "inputs" : "listeners";
        if (!is(src, "projector") || src->reverse) {
            st = fail_at(w->p, n->input_pos[k], "graph[%d] (%s): %s: a port of the wrong shape: an attention reads "
                         "latents (forward projectors), '%s' gives %s", i, n->id, key, src->id,
                         shape(w->p, src, buf, sizeof buf));
        } else if (src->stack != q) {
            st = fail_at(w->p, n->input_pos[k], "graph[%d] (%s): %s: '%s' is at stack %d, this attention at stack "
                         "%d (an attention's inputs come from its own stack)", i, n->id, key, src->id, src->stack, q);
        } else if (from[src->expert] && (from[src->expert] - 1 < speakers) != (k < speakers)) {
            st = fail_at(w->p, n->input_pos[k], "graph[%d] (%s): listeners: %s is also in inputs ('%s'): an expert "
                         "either speaks at an attention (inputs) or only listens (listeners)", i, n->id,
                         w->p->experts[src->expert].name, w->g->nodes[in[from[src->expert] - 1]].id);
        } else if (from[src->expert]) {
            st = fail_at(w->p, n->input_pos[k], "graph[%d] (%s): %s: a second input from %s ('%s')", i, n->id, key,
                         w->p->experts[src->expert].name, src->id);
        } else {
            from[src->expert] = k + 1;
        }
    }
    if (st == MOT_OK && speakers == 0) {
        st = fail_at(w->p, n->pos, "graph[%d] (%s): no expert speaks: every input is a listener, so this "
                     "cross-attention has no keys (list at least one forward projector in inputs)", i, n->id);
    }
    for (int e = 0; e < M && st == MOT_OK; e++) {
        char role[64] = "the primary";
        if (n->query) snprintf(role, sizeof role, "routed at rank %d (query: %d)", n->query, n->query);
        if (!from[e]) {
            st = fail_at(w->p, n->pos, "graph[%d] (%s): no input from %s: when %s is %s this "
                         "cross-attention has no query (give %s's forward projector at stack %d in inputs, or in "
                         "listeners when %s only listens)", i, n->id, w->p->experts[e].name,
                         w->p->experts[e].name, role, w->p->experts[e].name, q, w->p->experts[e].name);
        }
    }
    free(from);
    w->att[slot] = i;
    return st;
}

static mot_status check_reverse(walk *w, int i) {
    const mot_graph_node *n = &w->g->nodes[i];
    const int q = n->stack, e = n->expert, slot = e * w->p->interaction.stacks + q;
    const int *in = mot_graph_node_inputs(n);
    const char *name = w->p->experts[e].name;
    char buf[160];
    if (n->n_inputs < 1) return wrong_count(w, i, "one input or more");
    if (w->rev[slot] >= 0) {
        return fail_at(w->p, n->pos, "graph[%d] (%s): a second reverse projector of %s at stack %d (the first is '%s')",
                       i, n->id, name, q, w->g->nodes[w->rev[slot]].id);
    }
    int own = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        const mot_graph_node *src = &w->g->nodes[in[k]];
        const int is_att = is(src, "attention"), is_own = is(src, "projector") && !src->reverse && src->expert == e;
        if (is_att && src->stack != q) {
            return fail_at(w->p, n->input_pos[k], "graph[%d] (%s): inputs: '%s' is the cross-attention at stack %d, "
                           "this reverse projector at stack %d (a reverse projector reads the attentions of its own "
                           "stack)", i, n->id, src->id, src->stack, q);
        }
        if ((!is_att && !is_own) || src->stack != q) {
            return fail_at(w->p, n->input_pos[k], "graph[%d] (%s): inputs: a port of the wrong shape: a reverse "
                           "projector reads attention%d's output or %s's own latent at stack %d, '%s' gives %s", i,
                           n->id, q, name, q, src->id, shape(w->p, src, buf, sizeof buf));
        }
        for (int j = 0; j < k; j++) {
            if (in[j] == in[k]) {
                return fail_at(w->p, n->input_pos[k], "graph[%d] (%s): inputs: '%s' twice", i, n->id, src->id);
            }
        }
        if (is_own && own++) {
            return fail_at(w->p, n->input_pos[k], "graph[%d] (%s): inputs: '%s' twice", i, n->id, src->id);
        }
        w->read[in[k]] |= is_att;
    }
    if (!own) {
        return fail_at(w->p, n->pos, "graph[%d] (%s): reads only '%s': when %s is not the primary it reads its own "
                       "latent, so give [%s, %s's forward projector at stack %d]", i, n->id, w->g->nodes[in[0]].id,
                       name, w->g->nodes[in[0]].id, name, q);
    }
    if (w->cur[e] < 0) return check_hidden_input(w, i, 0);
    w->rev[slot] = i;
    w->cur[e] = i; /* x += R (attention | z) */
    return MOT_OK;
}

static mot_status check_node(walk *w, int i) {
    const mot_graph_node *n = &w->g->nodes[i];
    if (is(n, "router")) {
        if (w->router >= 0) {
            return fail_at(w->p, n->pos, "graph[%d] (%s): a second router node (the first is '%s')", i, n->id,
                           w->g->nodes[w->router].id);
        }
        w->router = i;
        return MOT_OK;
    }
    if (is(n, "attention")) return check_attention(w, i);
    const int e = n->expert;
    if (w->sampler[e] >= 0) {
        return fail_at(w->p, n->pos, "graph[%d] (%s): comes after %s's sampler '%s' (a sampler ends an expert's chain)",
                       i, n->id, w->p->experts[e].name, w->g->nodes[w->sampler[e]].id);
    }
    w->last[e] = i;
    if (is(n, "stack")) return check_stack(w, i);
    if (is(n, "projector")) return n->reverse ? check_reverse(w, i) : check_forward(w, i);
    if (n->n_inputs != 1) return wrong_count(w, i, "one input");
    MOT_TRY(check_hidden_input(w, i, 0));
    w->sampler[e] = i;
    return MOT_OK;
}

static mot_status check_ends(const walk *w, const int *depths) {
    for (int e = 0; e < w->p->n_experts; e++) {
        const char *name = w->p->experts[e].name;
        if (w->sampler[e] < 0) {
            if (w->last[e] < 0) {
                return fail_at(w->p, w->p->graph_pos, "graph: %s has no nodes (its lane never reaches a sampler)", name);
            }
            const mot_graph_node *n = &w->g->nodes[w->last[e]];
            return fail_at(w->p, n->pos, "graph[%d] (%s): %s's lane never reaches a sampler (no sampler node of %s "
                           "follows)", w->last[e], n->id, name, name);
        }
        const int depth = depths ? depths[e] : w->p->experts[e].depth;
        if (depth > 0 && w->next[e] != depth) {
            int i = w->cur[e];
            while (!is(&w->g->nodes[i], "stack") || w->g->nodes[i].expert != e) i--;
            const mot_graph_node *s = &w->g->nodes[i];
            return fail_at(w->p, s->layers_pos, "graph[%d] (%s): layers: %s has %d layers, its stacks cover [0, %d] "
                           "(they must end at layer %d)", i, s->id, name, depth, w->next[e] - 1, depth - 1);
        }
    }
    if (w->router < 0) return fail_at(w->p, w->p->graph_pos, "graph: no router node");
    for (int i = 0; i < w->g->n_nodes; i++) {
        const mot_graph_node *n = &w->g->nodes[i];
        if (is(n, "attention") && n->query > 0 && !w->read[i]) {
            return fail_at(w->p, n->query_pos, "graph[%d] (%s): query: %d, but no reverse projector reads this "
                           "attention (list it in the inputs of the reverse projectors at stack %d, e.g. [%s, "
                           "E's forward projector at stack %d]: E reads it when routed at rank %d)", i, n->id,
                           n->query, n->stack, n->id, n->stack, n->query);
        }
    }
    return MOT_OK;
}

mot_status mot_graph_validate(const mot_pipeline *p, const mot_graph *g, const int *depths) {
    MOT_TRY(check_order(p, g));
    const int M = p->n_experts, Q = p->interaction.stacks;
    walk w = {p, g, malloc(sizeof(int) * (size_t)M), calloc((size_t)M, sizeof(int)), malloc(sizeof(int) * (size_t)M),
              malloc(sizeof(int) * (size_t)M), malloc(sizeof(int) * (size_t)M * Q), malloc(sizeof(int) * (size_t)M * Q),
              malloc(sizeof(int) * (size_t)Q * MOT_MAX_LANES), calloc((size_t)g->n_nodes + 1, 1), -1};
    mot_status st = w.cur && w.next && w.sampler && w.last && w.fwd && w.rev && w.att && w.read
                        ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "graph: out of memory");
    for (int e = 0; st == MOT_OK && e < M; e++) w.cur[e] = w.sampler[e] = w.last[e] = -1;
    for (int k = 0; st == MOT_OK && k < M * Q; k++) w.fwd[k] = w.rev[k] = -1;
    for (int q = 0; st == MOT_OK && q < Q * MOT_MAX_LANES; q++) w.att[q] = -1;
    for (int i = 0; i < g->n_nodes && st == MOT_OK; i++) st = check_node(&w, i);
    if (st == MOT_OK) st = check_ends(&w, depths);
    free(w.cur), free(w.next), free(w.sampler), free(w.last), free(w.fwd), free(w.rev), free(w.att), free(w.read);
    return st;
}
