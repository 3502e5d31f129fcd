/* The event walk behind yaml_limits_check: depth, node count with aliases expanded, anchors. */
#include "graph/yaml_limits.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/error.h"

typedef struct {
    char *name;
    long nodes; /* the anchored node's size, aliases in it expanded */
    int open;   /* its collection has not ended yet: an alias to it would be a cycle */
} anchor;

typedef struct {
    const char *file;
    long nodes;
    int depth;
    long first[MOT_YAML_MAX_DEPTH]; /* per open collection: `nodes` when it started */
    int anchor_of[MOT_YAML_MAX_DEPTH]; /* its anchor's index, or -1 */
    anchor anchors[MOT_YAML_MAX_ANCHORS];
    int n_anchors;
} walk;

static mot_status fail_at(const walk *w, const yaml_mark_t *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mot_status st = mot_vfail_at(w->file, (int)m->line + 1, (int)m->column + 1, fmt, ap);
    va_end(ap);
    return st;
}

/* Registers `name` (NULL: none); *index gets its slot or -1. */
static mot_status add_anchor(walk *w, const yaml_event_t *ev, const yaml_char_t *name, long nodes, int open,
                             int *index) {
    *index = -1;
    if (!name) {
        return MOT_OK;
    }
    if (w->n_anchors == MOT_YAML_MAX_ANCHORS) {
        return fail_at(w, &ev->start_mark, "more than %d anchors", MOT_YAML_MAX_ANCHORS);
    }
    anchor *a = &w->anchors[w->n_anchors];
    if (!(a->name = strdup((const char *)name))) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", w->file);
    }
    a->nodes = nodes;
    a->open = open;
    *index = w->n_anchors++;
    return MOT_OK;
}

static mot_status start_collection(walk *w, const yaml_event_t *ev, const yaml_char_t *name) {
    if (w->depth == MOT_YAML_MAX_DEPTH) {
        return fail_at(w, &ev->start_mark, "nesting deeper than %d levels", MOT_YAML_MAX_DEPTH);
    }
    w->nodes++;
    w->first[w->depth] = w->nodes;
    MOT_TRY(add_anchor(w, ev, name, 0, 1, &w->anchor_of[w->depth]));
    w->depth++;
    return MOT_OK;
}

static void end_collection(walk *w) {
    if (w->depth == 0) {
        return; /* not from libyaml, which pairs them */
    }
    w->depth--;
    int a = w->anchor_of[w->depth];
    if (a >= 0) {
        w->anchors[a].nodes = w->nodes - w->first[w->depth] + 1;
        w->anchors[a].open = 0;
    }
}

static mot_status alias(walk *w, const yaml_event_t *ev) {
    const char *name = (const char *)ev->data.alias.anchor;
    for (int i = w->n_anchors - 1; i >= 0; i--) { /* the latest definition of a name wins */
        if (strcmp(w->anchors[i].name, name) == 0) {
            if (w->anchors[i].open) {
                return fail_at(w, &ev->start_mark, "alias *%s is used inside the node it names", name);
            }
            w->nodes += w->anchors[i].nodes;
            return MOT_OK;
        }
    }
    return MOT_OK; /* undefined: loading reports it */
}

static mot_status step(walk *w, const yaml_event_t *ev) {
    int index;
    switch (ev->type) {
    case YAML_SEQUENCE_START_EVENT: return start_collection(w, ev, ev->data.sequence_start.anchor);
    case YAML_MAPPING_START_EVENT: return start_collection(w, ev, ev->data.mapping_start.anchor);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: end_collection(w); return MOT_OK;
    case YAML_SCALAR_EVENT: w->nodes++; return add_anchor(w, ev, ev->data.scalar.anchor, 1, 0, &index);
    case YAML_ALIAS_EVENT: return alias(w, ev);
    default: return MOT_OK;
    }
}

mot_status yaml_limits_check(const char *file, const unsigned char *text, size_t size) {
    walk *w = calloc(1, sizeof *w);
    yaml_parser_t ps;
    if (!w || !yaml_parser_initialize(&ps)) {
        free(w);
        return mot_fail(MOT_ERR_NOMEM, "%s: error: cannot start the YAML parser", file);
    }
    w->file = file;
    yaml_parser_set_input_string(&ps, text, size);
    mot_status st = MOT_OK;
    for (int done = 0; !done && st == MOT_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&ps, &ev)) {
            break; /* a syntax error: loading the document reports it */
        }
        st = step(w, &ev);
        if (st == MOT_OK && w->nodes > MOT_YAML_MAX_NODES) {
            st = fail_at(w, &ev.start_mark, "more than %d YAML nodes (an alias counts its node each time it is used)",
                         MOT_YAML_MAX_NODES);
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&ps);
    for (int i = 0; i < w->n_anchors; i++) {
        free(w->anchors[i].name);
    }
    free(w);
    return st;
}
